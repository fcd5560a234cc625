// The chart's readout: the values of the bar under the pointer or the keyboard focus, in words,
// announced politely to screen readers (each bar also carries its own label).
document.addEventListener("DOMContentLoaded", () => {
  for (const chart of document.querySelectorAll("[data-chart]")) {
    const readout = chart.querySelector("[data-readout]");
    const show = (event) => {
      const bar = event.target.closest(".bar");
      if (bar && readout) readout.textContent = bar.getAttribute("aria-label");
    };
    chart.addEventListener("focusin", show);
    chart.addEventListener("mouseover", show);
  }
});
