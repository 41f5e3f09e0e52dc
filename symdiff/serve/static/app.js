// symdiff serve: tabs, copy buttons, the "working" note, and the links between derivation steps and code lines.
"use strict";

function stepsOf(element) {
  return (element.dataset.step || "").split(" ").filter(Boolean);
}

function mark(steps, on) {
  for (const step of steps) {
    for (const el of document.querySelectorAll("[data-step]")) {
      if (stepsOf(el).includes(step)) el.classList.toggle("linked-on", on);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-step]")) {
    el.addEventListener("mouseenter", () => mark(stepsOf(el), true));
    el.addEventListener("mouseleave", () => mark(stepsOf(el), false));
    el.addEventListener("click", () => {
      // a code line scrolls its (first) step into view, a step its first code line
      const step = stepsOf(el)[0];
      const inCode = el.closest("pre") !== null;
      const other = [...document.querySelectorAll("[data-step]")].find(
        (o) => (o.closest("pre") !== null) !== inCode && stepsOf(o).includes(step));
      if (other) other.scrollIntoView({ block: "center", behavior: "smooth" });
    });
  }
  for (const tab of document.querySelectorAll("button.tab")) {
    tab.addEventListener("click", () => {
      const group = tab.closest(".tabs").parentElement;
      for (const t of group.querySelectorAll("button.tab")) t.classList.toggle("active", t === tab);
      for (const panel of group.querySelectorAll(".code-panel")) panel.classList.toggle("hidden", panel.id !== tab.dataset.tab);
    });
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);  // only on a secure origin (127.0.0.1 is one)
        button.textContent = "Copied";
      } catch (err) {  // no clipboard here: select the code for Ctrl-C
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl-C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
  // Back to a page the browser kept: the form is ready again, not "working"
  window.addEventListener("pageshow", () => {
    const working = document.getElementById("working");
    if (working) working.classList.add("hidden");
    const submit = document.getElementById("submit");
    if (submit) submit.disabled = false;
  });
  const form = document.getElementById("derive");
  if (form) {
    form.addEventListener("submit", () => {
      document.getElementById("working").classList.remove("hidden");
      document.getElementById("submit").disabled = true;
    });
  }
});
