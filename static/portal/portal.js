// Put the keyboard focus on the first field with an error, so a screen reader announces it.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector(".invalid input, .invalid select, .invalid textarea");
  if (invalid) invalid.focus();
});
