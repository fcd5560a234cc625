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

// The left navigation folds into a "Menu" on a phone: open by default, so that it works
// without this script, and closed here when the screen is narrow.
document.addEventListener("DOMContentLoaded", () => {
  const nav = document.querySelector("details[data-nav]");
  if (nav && window.matchMedia("(max-width: 48rem)").matches) nav.open = false;
});

// A details panel (flyout): Escape or its Close button closes it and returns the focus.
document.addEventListener("DOMContentLoaded", () => {
  const close = (flyout) => {
    flyout.open = false;
    flyout.querySelector("summary").focus();
  };
  for (const flyout of document.querySelectorAll("details.flyout")) {
    flyout.addEventListener("toggle", () => {
      if (flyout.open) flyout.querySelector(".flyout-panel").focus();
    });
    for (const button of flyout.querySelectorAll("[data-close]")) {
      button.hidden = false;
      button.addEventListener("click", () => close(flyout));
    }
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const flyout of document.querySelectorAll("details.flyout[open]")) close(flyout);
  });
});

// A table wider than its box scrolls inside it: the keyboard can reach it to scroll it too.
window.addEventListener("load", () => {
  for (const box of document.querySelectorAll(".table-box, .scroll")) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) box.tabIndex = 0;
  }
});
