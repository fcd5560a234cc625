// Put the keyboard focus on the first field with an error, so a screen reader announces it.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector(".invalid input, .invalid select, .invalid textarea");
  if (invalid) invalid.focus();
});

// A list's "select every row on this page" box: shown only where this script runs.
document.addEventListener("DOMContentLoaded", () => {
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    const boxes = () => all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`);
    all.hidden = false;
    all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
  }
});
