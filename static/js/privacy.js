// Copy buttons: <button data-copy="#input-id"> copies that input's value and says so.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  const status = button.closest("section")?.querySelector("[role=status]");
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    field.select();
    copied = document.execCommand("copy");
  }
  if (status) status.textContent = copied ? "Link copied." : "Select the link and copy it.";
});
