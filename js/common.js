// Helpers shared by job.js and form.js. Not a module of its own: each widget's ESM is this file
// followed by its own (kling_nb/widgets/_static.py), since an anywidget's ESM cannot import a sibling.
function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function button(text, label, onClick, cls = "kling-btn") {
  const b = h("button", cls, text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.title = label;
  b.addEventListener("click", onClick);
  return b;
}

async function copyText(text, b) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const was = b.textContent;
  b.textContent = "Copied";
  setTimeout(() => (b.textContent = was), 1200);
}

// The three exports of a request ({magic, python, curl}), each with a copy button.
function exportsPanel(title) {
  const box = h("details", "kling-exports");
  return {
    box,
    update(exports) {
      box.replaceChildren(h("summary", "", title));
      for (const [key, name] of [["magic", "%%kling"], ["python", "Python"], ["curl", "cURL"]]) {
        const row = h("div", "kling-export");
        const pre = h("pre", "kling-code", (exports || {})[key] || "");
        row.dataset.kind = key;
        row.append(button(`Copy ${name}`, `Copy the request as ${name}`, (ev) =>
          copyText(pre.textContent, ev.currentTarget)), pre);
        box.append(row);
      }
    },
  };
}
