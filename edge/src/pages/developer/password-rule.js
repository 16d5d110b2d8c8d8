// Shows, while the user types, which parts of the vendor's password rule a
// new password meets. Only a help: the server checks the same rule
// (oauth::crypto::check_password_rule) and the form works without this.
(() => {
  const checks = {
    length: (p) => [...p].length >= 8,
    upper: (p) => /\p{Lu}/u.test(p),
    lower: (p) => /\p{Ll}/u.test(p),
    digit: (p) => /[0-9]/.test(p),
    symbol: (p) => /[^\p{L}\p{N}\s]/u.test(p),
  };
  for (const input of document.querySelectorAll("input[data-password-rule]")) {
    const list = document.getElementById(input.dataset.passwordRule);
    if (!list) continue;
    const update = () => {
      for (const item of list.querySelectorAll("li[data-check]")) {
        const ok = checks[item.dataset.check]?.(input.value) ?? false;
        item.className = ok ? "ok" : "missing";
        const state = item.querySelector(".state");
        if (state) state.textContent = ok ? " (met)" : " (missing)";
      }
    };
    input.addEventListener("input", update);
    update();
  }
})();
