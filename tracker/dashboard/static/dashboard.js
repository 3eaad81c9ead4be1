// Small helpers for people with JavaScript; every page works without it.
"use strict";

function copyButtons() {
  for (const button of document.querySelectorAll("button.copy")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(field.value);
      button.textContent = "Copied";
    });
  }
}

function confirmations() {
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
}

function livePreview() {
  const output = document.getElementById("destination");
  const url = document.getElementById("url");
  if (!output || !url) return;
  const fields = Array.from(document.querySelectorAll("input[data-utm]")).filter((f) => f.dataset.utm);
  const show = () => {
    let target;
    try {
      target = new URL(url.value.trim());
    } catch {
      output.textContent = "–";
      return;
    }
    for (const field of fields) {
      if (field.value.trim()) target.searchParams.set(field.dataset.utm, field.value.trim());
    }
    output.textContent = target.toString();
  };
  for (const field of [url, ...fields]) field.addEventListener("input", show);
  show();
}

// A field's error, shown after a submit, goes once the field is changed: left there, it
// reads as if the corrected value were still refused. The server checks again on submit.
function clearedErrors() {
  for (const field of document.querySelectorAll(".has-error")) {
    const clear = () => {
      field.classList.remove("has-error");
      for (const input of field.querySelectorAll("[aria-invalid]")) {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      }
      for (const error of field.querySelectorAll(".error")) error.hidden = true;
    };
    field.addEventListener("input", clear, { once: true });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  confirmations();
  livePreview();
  clearedErrors();
});
