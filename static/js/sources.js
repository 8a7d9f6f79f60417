// Copy buttons on the sources pages: <button class="copy" data-copy="#element-id">.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.innerText.trim();
  const done = () => {
    button.classList.add("copied");
    button.textContent = "Copied";
    setTimeout(() => { button.classList.remove("copied"); button.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(source));
  } else {
    selectText(source);
  }
});

// Without clipboard access (plain http), select the text so Ctrl+C copies it.
function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
