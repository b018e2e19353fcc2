// The module each JobView carries. The view's code (common.js + job.js) and style (kling.css) sit
// once per kernel in the shared model its `frontend` trait names, so a saved notebook holds them
// once rather than once per view. An anywidget module cannot import a sibling file: the code
// comes from the shared model as text, imported from a Blob URL, once per model (anywidget calls
// this function and `initialize` once per model): its views share what it keeps.
export default () => {
  let widget = null;
  return {
    async initialize({ model }) {
      const id = model.get("frontend").slice("IPY_MODEL_".length);
      const shared = await model.widget_manager.get_model(id);
      const url = URL.createObjectURL(new Blob([shared.get("_esm")], { type: "text/javascript" }));
      try {
        widget = (await import(url)).default.initialize({ model });
      } finally {
        URL.revokeObjectURL(url);
      }
      return widget.dispose;
    },
    render: (view) => widget.render(view),
  };
};
