// The form's inputs (after common.js and picker.js, before form.js): labelled fields, text, select
// and check inputs, image thumbnails, URL rows and message slots, each bound to a path of the
// draft through the shared context `ctx` that form.js builds.
let uid = 0;

function httpUrl(text) {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

function sentenceCase(text) {
  const t = text.replaceAll("_", " ");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

// -- inputs: each registers its error slot and marks its path touched on use -----------------

function field(ctx, path, labelText, input, hint, inline = false) {
  const wrap = h("div", inline ? "kling-field kling-check" : "kling-field");
  const id = `kling-${++uid}`;
  input.id = id;
  input.dataset.key = path;
  const label = h("label", "", labelText);
  label.htmlFor = id;
  const msg = h("div", "kling-msg");
  msg.id = `${id}-msg`;
  input.setAttribute("aria-describedby", msg.id);
  if (inline) wrap.append(input, label);
  else wrap.append(label, input);
  if (hint) wrap.append(h("div", "kling-hint", hint));
  wrap.append(msg);
  ctx.slots.set(path, { msg, input });
  return wrap;
}

function textInput(ctx, path, get, set, labelText, opts = {}) {
  const input = h(opts.multiline ? "textarea" : "input");
  if (!opts.multiline) input.type = opts.type || "text";
  if (opts.placeholder) input.placeholder = opts.placeholder;
  input.value = get() ?? "";
  const wrap = field(ctx, path, labelText, input, opts.hint);
  let counter = null;
  if (opts.counter) {
    counter = h("div", "kling-counter");
    counter.setAttribute("aria-live", "polite");
    wrap.insertBefore(counter, input.nextSibling);
  }
  const limit = ctx.limits.prompt_chars;
  const count = () => {
    if (!counter) return;
    const n = [...input.value].length;
    counter.textContent = `${n} / ${limit}`;
    counter.classList.toggle("over", n > limit);
  };
  count();
  input.addEventListener("input", () => {
    set(input.value);
    count();
    if (opts.onInput) opts.onInput(input.value);
    ctx.changed(path);
  });
  return wrap;
}

function selectInput(ctx, path, labelText, options, get, set, rebuild) {
  const input = h("select");
  for (const [value, name] of options) {
    const o = h("option", "", name);
    o.value = String(value);
    input.append(o);
  }
  input.value = String(get() ?? "");
  if (input.value !== String(get() ?? "") && options.length) {
    set(input.value); // e.g. a duration the newly picked model does not offer
    queueMicrotask(() => ctx.changed());
  }
  input.addEventListener("change", () => {
    set(input.value);
    ctx.changed(path);
    if (rebuild) ctx.build();
  });
  return field(ctx, path, labelText, input);
}

function checkInput(ctx, path, labelText, get, set) {
  const input = h("input");
  input.type = "checkbox";
  input.checked = Boolean(get());
  input.addEventListener("change", () => {
    set(input.checked);
    ctx.changed(path);
  });
  return field(ctx, path, labelText, input, undefined, true);
}

function thumb(model, url) {
  const img = h("img", "kling-thumb");
  img.alt = "Preview";
  img.addEventListener("error", () => (img.hidden = true));
  const set = (u) => {
    const ok = httpUrl(u.trim()) || localPreview(model, u.trim(), () => set(u));
    img.hidden = !ok;
    if (ok) img.src = ok;
    else img.removeAttribute("src");
  };
  set(url || "");
  return { img, set };
}

function urlRow(ctx, path, labelText, list, i, onRemove) {
  const t = thumb(ctx.model, list[i]);
  const wrap = textInput(ctx, path, () => list[i], (v) => (list[i] = v), labelText,
    { type: "url", placeholder: "https://…", onInput: t.set });
  const line = h("div", "kling-url-row");
  line.append(t.img, filePicker(ctx.model, wrap, labelText, (token) => {
    const input = wrap.querySelector("input");
    input.value = token;
    input.dispatchEvent(new Event("input"));
  }));
  if (onRemove) line.append(button("Remove", `Remove ${labelText}`, onRemove));
  wrap.append(line);
  return wrap;
}

function messageSlot(ctx, path) {
  const msg = h("div", "kling-msg");
  ctx.slots.set(path, { msg, input: null });
  return msg;
}
