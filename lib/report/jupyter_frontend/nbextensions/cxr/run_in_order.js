/**
 * A Jupyter Notebook 6 extension that `./run jupyter` (`startJupyter` in lib/report/jupyter.ts) loads into
 * every notebook page (lib/report/jupyter_frontend/nbconfig/notebook.json).
 *
 * Jupyter's "Run All" sends every cell at once and relies on the kernel to drop the queued ones after an
 * error (`stop_on_error`). Deno's kernel ignores that flag, so a notebook whose first cell fails (notebook 04
 * without a model bundle) went on to run every later cell, each failing with a `ReferenceError`. This file
 * makes the page keep the queue itself: cells go to the kernel one at a time, each after the previous one's
 * reply, and an error empties the queue (queued cells go back to `In [ ]` with no output), as a kernel that
 * honours `stop_on_error` would. A cell tagged `raises-exception` does not stop the queue, as in Jupyter.
 * Every way of running cells goes through `CodeCell.execute`, so Shift-Enter while a run is queued takes its
 * turn too.
 */
define([
  "base/js/namespace",
  "base/js/events",
  "notebook/js/codecell",
], function (Jupyter, events, codecell) {
  "use strict";
  return { load_ipython_extension: load };

  function load() {
    const CodeCell = codecell.CodeCell;
    if (CodeCell.prototype._cxrQueued) return;
    const send = CodeCell.prototype.execute;
    /** @type {{ cell: object, stopOnError: boolean }[]} */
    let queue = [];
    /** The cell whose reply is awaited, or null. */
    let running = null;

    function stopOnError(cell, flag) {
      if (flag !== undefined) return flag;
      const tags = cell.metadata && cell.metadata.tags;
      return !(tags && tags.indexOf("raises-exception") !== -1);
    }

    function notify(text) {
      const area = Jupyter.notification_area;
      // A widget of its own: the "notebook" one is rewritten by saves and kernel messages at any time.
      const widget = area && area.widget("cxr_run");
      if (widget) widget.warning(text, 30000);
    }

    /** Empties the queue: its cells return to "In [ ]" with no output, as cells the kernel aborted. */
    function drop(reason) {
      const dropped = queue;
      queue = [];
      for (const item of dropped) {
        item.cell.clear_output(false, true);
        item.cell.set_input_prompt(null);
        item.cell.element.removeClass("running");
      }
      if (dropped.length && reason) notify(reason + ": " + dropped.length + " queued cell(s) not run");
    }

    function next() {
      running = null;
      while (queue.length) {
        const item = queue.shift();
        const cell = item.cell;
        send.call(cell, item.stopOnError);
        if (cell.last_msg_id) { // not an empty cell
          running = item;
          return;
        }
      }
    }

    events.on("shell_reply.Kernel", function (_evt, data) {
      if (!running || data.reply.parent_header.msg_id !== running.cell.last_msg_id) return;
      const status = data.reply.content.status;
      if (status !== "ok" && running.stopOnError) {
        const nb = Jupyter.notebook;
        const index = nb ? nb.find_cell_index(running.cell) : -1;
        drop(status === "error" ? "Stopped at the cell that failed" : "Stopped (" + status + ")");
        if (index >= 0) nb.scroll_to_cell(index);
      }
      next();
    });
    // A restarted or dead kernel answers nothing more: forget what was queued for it.
    events.on("kernel_restarting.Kernel kernel_dead.Kernel kernel_killed.Kernel", function () {
      drop("The kernel stopped");
      if (running) {
        running.cell.set_input_prompt(null);
        running.cell.element.removeClass("running");
      }
      running = null;
    });

    CodeCell.prototype.execute = function (stop_on_error) {
      if (!this.kernel || this.get_text().trim().length === 0) return send.call(this, stop_on_error);
      queue = queue.filter((item) => item.cell !== this);
      queue.push({ cell: this, stopOnError: stopOnError(this, stop_on_error) });
      this.set_input_prompt("*");
      this.element.addClass("running");
      if (!running) next();
    };
    CodeCell.prototype._cxrQueued = true;
  }
});
