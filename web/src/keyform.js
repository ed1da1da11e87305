// The read key: asked for when the API answers 401, kept for this tab only, never embedded.
const STORE = "frontline.readKey";
let pending = null;

export const currentKey = () => sessionStorage.getItem(STORE);

export function forgetKey() {
  sessionStorage.removeItem(STORE);
  document.getElementById("forget-key").hidden = true;
}

/** Resolves once the reader has given a key (every caller waiting on a 401 shares one form). */
export function askForKey(error = "") {
  if (pending) return pending;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-error").textContent = error;
  input.value = "";
  pending = new Promise((resolve) => {
    const submitted = () => {
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem(STORE, key);
      document.getElementById("forget-key").hidden = false;
      dialog.removeEventListener("close", submitted);
      pending = null;
      resolve(key);
    };
    dialog.addEventListener("close", submitted);
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // nothing to read without one
  });
  dialog.showModal();
  input.focus();
  return pending;
}

export function installKeyControls(onForget) {
  const button = document.getElementById("forget-key");
  button.hidden = !currentKey();
  button.addEventListener("click", () => {
    forgetKey();
    onForget();
  });
}
