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
  const narrow = window.matchMedia("(max-width: 48rem)");
  if (!nav) return;
  nav.open = !narrow.matches;
  narrow.addEventListener("change", () => { nav.open = !narrow.matches; });
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
const scrollersFocusable = (root) => {
  for (const box of root.querySelectorAll(".table-box, .scroll")) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) box.tabIndex = 0;
  }
};
window.addEventListener("load", () => scrollersFocusable(document));

// A details panel (flyout) for a linked page: inside [data-flyout-links], a plain click on a
// link that matches its selector shows that page's content in a <dialog> beside the list, the
// list staying where it was; without this script (or with a modifier key) the link opens the page.
const flyoutDialog = () => {
  let dialog = document.getElementById("flyout-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "flyout-dialog";
  dialog.className = "flyout-dialog";
  const bar = document.createElement("div");
  bar.className = "flyout-bar";
  const full = document.createElement("a");
  full.dataset.flyoutFull = "";
  full.textContent = "Open as a page";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "secondary";
  close.textContent = "Close";
  close.addEventListener("click", () => dialog.close());
  bar.append(full, close);
  const body = document.createElement("div");
  body.dataset.flyoutBody = "";
  dialog.append(bar, body);
  document.body.append(dialog);
  return dialog;
};

document.addEventListener("DOMContentLoaded", () => {
  for (const area of document.querySelectorAll("[data-flyout-links]")) {
    area.addEventListener("click", async (event) => {
      const link = event.target.closest(area.dataset.flyoutLinks);
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) {
        window.location.assign(link.href);
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const dialog = flyoutDialog();
      const body = dialog.querySelector("[data-flyout-body]");
      body.replaceChildren(...page.querySelector("main").children);
      body.querySelector(".breadcrumb")?.remove();
      const title = body.querySelector("h1");
      if (title) {
        title.id = "flyout-title";
        dialog.setAttribute("aria-labelledby", "flyout-title");
      }
      dialog.querySelector("[data-flyout-full]").href = link.href;
      dialog.addEventListener("close", () => link.focus(), { once: true });
      dialog.showModal();
      scrollersFocusable(dialog);
    });
  }
});
