// Draws the plotly figures the server built with plotly's Python API: <div data-figure="{json}">.
// Runs on page load and on every element htmx swaps in (after it has settled).
(function () {
  const CONFIG = { displayModeBar: false, responsive: true };

  function draw(root) {
    if (!window.Plotly || !root.querySelectorAll) return;
    root.querySelectorAll("[data-figure]:not([data-drawn])").forEach((element) => {
      const figure = JSON.parse(element.dataset.figure);
      element.dataset.drawn = "true";
      window.Plotly.newPlot(element, figure.data, figure.layout, CONFIG);
    });
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:load", (event) => draw(event.detail.elt));
})();
