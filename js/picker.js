// Local files for the form's image slots (after common.js, before form.js): a "Choose file"
// button and drag-and-drop on each slot. The file goes to Python in chunks; Python checks it
// against the Kling limits and answers with its token (local:sha256:...) or a one-line error.
// Thumbnails come from the file itself (or, for a token made elsewhere, from Python once).
const PICK_CHUNK = 4 * 1024 * 1024;
const previews = new Map(); // token -> object URL, or null when Python has no such image
const pending = new Map(); // message id -> resolve
const listening = new WeakSet();
let picks = 0;

function ask(model, content, buffers) {
  if (!listening.has(model)) {
    listening.add(model);
    model.on("msg:custom", (msg, answerBuffers) => {
      const done = pending.get(msg && msg.id);
      if (!done) return;
      pending.delete(msg.id);
      done({ msg, buffers: answerBuffers || [] });
    });
  }
  const id = content.id || `pick-${++picks}`;
  const answer = new Promise((resolve) => pending.set(id, resolve));
  model.send({ ...content, id }, undefined, buffers || []);
  return { id, answer };
}

async function sendFile(model, file) {
  const parts = Math.max(1, Math.ceil(file.size / PICK_CHUNK));
  const id = `pick-${++picks}`;
  let answered = null;
  const first = file.slice(0, PICK_CHUNK);
  const head = { kind: "local-image", id, name: file.name, size: file.size, part: 0, parts };
  const { answer } = ask(model, head, [await first.arrayBuffer()]);
  answer.then((a) => (answered = a));
  for (let part = 1; part < parts && !answered; part++) {
    const chunk = await file.slice(part * PICK_CHUNK, (part + 1) * PICK_CHUNK).arrayBuffer();
    model.send({ kind: "local-image", id, part, parts }, undefined, [chunk]);
  }
  return (await answer).msg;
}

// The preview URL of a local image token, or null; `ready` runs once one arrives from Python.
function localPreview(model, token, ready) {
  if (!token.startsWith("local:sha256:")) return null;
  if (previews.has(token)) return previews.get(token);
  previews.set(token, null);
  ask(model, { kind: "local-preview", token }).answer.then(({ msg, buffers }) => {
    if (!msg.found || !buffers.length) return;
    previews.set(token, URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime })));
    ready();
  });
  return null;
}

// A file button for one image slot, with drops on `target`; `onToken(token)` fills the slot.
function filePicker(model, target, labelText, onToken) {
  const box = h("span", "kling-picker");
  const input = h("input");
  input.type = "file";
  input.accept = "image/png,image/jpeg,image/webp";
  input.hidden = true;
  input.setAttribute("aria-label", `Local file for ${labelText}`);
  const msg = h("span", "kling-msg kling-picker-msg");
  msg.setAttribute("role", "alert");
  async function take(file) {
    if (!file) return;
    msg.textContent = `Reading ${file.name}…`;
    const answer = await sendFile(model, file);
    if (answer.error) {
      msg.textContent = answer.error;
      return;
    }
    msg.textContent = "";
    previews.set(answer.token, URL.createObjectURL(file));
    onToken(answer.token);
  }
  input.addEventListener("change", () => take(input.files[0]));
  target.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    target.classList.add("kling-drop");
  });
  target.addEventListener("dragleave", () => target.classList.remove("kling-drop"));
  target.addEventListener("drop", (ev) => {
    ev.preventDefault();
    target.classList.remove("kling-drop");
    take(ev.dataTransfer.files[0]);
  });
  box.append(button("Choose file…", `Choose a local file for ${labelText}`, () => input.click()),
    input, msg);
  return box;
}
