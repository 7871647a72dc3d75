extension LivePage {
    /// The page's script: polls `/history?since=N` (only what is new) and `/status` every second,
    /// keeps the series, and redraws the charts and the workers' table.
    static let script = #"""
        "use strict";
        const svgNS = "http://www.w3.org/2000/svg";
        const W = 480, H = 220, M = { left: 52, right: 12, top: 10, bottom: 24 };
        const run = { since: 0, thinnings: null, points: [], evaluations: [] };

        function text(id, value) { document.getElementById(id).textContent = value; }

        function finite(value) { return typeof value === "number" && isFinite(value); }

        function fixed(value, digits) { return finite(value) ? value.toFixed(digits) : "–"; }

        // 4 decimals, or 3 significant digits below 0.001 (not "0.0000" for a run still learning).
        function loss(value) {
          return finite(value) && value !== 0 && Math.abs(value) < 0.001 ? value.toExponential(2) : fixed(value, 4);
        }

        function percent(value) { return finite(value) ? (100 * value).toFixed(1) + "%" : "–"; }

        function duration(seconds) {
          if (!finite(seconds)) return "–";
          const s = Math.round(seconds), days = Math.floor(s / 86400);
          const parts = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60];
          const clock = parts.map((n, i) => (i === 0 ? String(n) : String(n).padStart(2, "0"))).join(":");
          return days > 0 ? days + "d " + clock : clock;
        }

        async function json(path) {
          const response = await fetch(path, { cache: "no-store" });
          if (!response.ok) throw new Error("GET " + path + ": " + response.status);
          return response.json();
        }

        // Takes a page of /history; false when the copy kept here must be fetched again from 0
        // (the coordinator thinned its series, or it is another run).
        function absorb(page) {
          const thinned = run.thinnings !== null && page.thinnings !== run.thinnings;
          if ((thinned && run.since > 0) || page.next < run.since) {
            Object.assign(run, { since: 0, thinnings: null, points: [], evaluations: [] });
            return false;
          }
          run.thinnings = page.thinnings;
          for (const point of page.points) run.points.push(point);
          for (const evaluation of page.evaluations) run.evaluations.push(evaluation);
          run.since = page.next;
          return true;
        }

        async function poll() {
          try {
            let page = await json("/history?since=" + run.since);
            if (!absorb(page)) {
              page = await json("/history?since=0");
              absorb(page);
            }
            const status = await json("/status");
            show(page, status);
            text("note", "");
          } catch (error) {
            text("state", "not answering");
            text("note", "The coordinator does not answer (" + error.message + "): the run may have ended.");
          } finally {
            setTimeout(poll, 1000);
          }
        }

        function show(page, status) {
          const latest = page.latest, total = page.total_steps;
          text("state", String(status.state || "–"));
          text("step", latest ? String(latest.step) : "0");
          text("total", finite(total) ? String(total) : "–");
          text("epoch", latest ? String(latest.epoch) : "–");
          text("loss", latest ? loss(latest.loss) : "–");
          text("accuracy", latest ? percent(latest.accuracy) : "–");
          text("speed", latest ? fixed(latest.examples_per_s, 0) : "–");
          text("lr", latest && finite(latest.lr) ? latest.lr.toPrecision(3) : "–");
          text("eta", duration(page.eta_s));
          const test = page.latest_evaluation;
          text("test", test ? percent(test.accuracy) + ", loss " + loss(test.loss) : "–");
          const done = latest && finite(total) && total > 0 ? Math.min(1, latest.step / total) : 0;
          document.getElementById("progress").style.width = (100 * done).toFixed(2) + "%";
          charts(latest, test);
          workers(status);
        }

        // The kept series, each ending with the newest step or evaluation even when it was not kept.
        function charts(latest, test) {
          const points = withNewest(run.points, latest);
          const tests = withNewest(run.evaluations, test);
          for (const [key, unit] of [["loss", false], ["accuracy", true]]) {
            const raw = pairs(points, key);
            plot(key + "-chart", [
              { kind: "raw", xy: raw },
              { kind: "smooth", xy: smooth(raw) },
              { kind: "test", dots: true, xy: pairs(tests, key) },
            ], unit);
          }
          plot("speed-chart", [{ kind: "smooth", xy: pairs(points, "examples_per_s") }], false);
        }

        function withNewest(items, newest) {
          const last = items[items.length - 1];
          return newest && (!last || last.step < newest.step) ? items.concat([newest]) : items;
        }

        function pairs(items, key) {
          return items.filter((item) => finite(item[key])).map((item) => [item.step, item[key]]);
        }

        // Exponential moving average: each point moves the line a tenth of the way to it.
        function smooth(xy) {
          let average = null;
          return xy.map(([x, y]) => {
            average = average === null ? y : average + 0.1 * (y - average);
            return [x, average];
          });
        }

        function element(name, attributes, parent) {
          const node = document.createElementNS(svgNS, name);
          for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
          parent.appendChild(node);
          return node;
        }

        function label(svg, x, y, words, anchor) {
          element("text", { x: x.toFixed(1), y: y.toFixed(1), "text-anchor": anchor }, svg).textContent = words;
        }

        function extent(values) {
          let low = Infinity, high = -Infinity;
          for (const v of values) { low = Math.min(low, v); high = Math.max(high, v); }
          return [low, high];
        }

        // The y range comes from the smoothed line and the evaluations; the raw line is clipped to it.
        function plot(id, series, unit) {
          const svg = document.getElementById(id);
          while (svg.firstChild) svg.removeChild(svg.firstChild);
          const all = series.flatMap((s) => s.xy);
          if (all.length === 0) return label(svg, W / 2, H / 2, "no data yet", "middle");
          const ranged = series.filter((s) => s.kind !== "raw").flatMap((s) => s.xy);
          let [x0, x1] = extent(all.map((p) => p[0]));
          let [y0, y1] = extent((ranged.length ? ranged : all).map((p) => p[1]));
          if (x1 === x0) x1 = x0 + 1;
          const pad = (y1 - y0) * 0.08 || Math.abs(y0) * 0.1 || 1;
          [y0, y1] = [y0 - pad, y1 + pad];
          if (unit) [y0, y1] = [Math.max(0, y0), Math.min(1, y1)];
          const sx = (x) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
          const sy = (y) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
          axes(svg, [x0, x1, y0, y1], sx, sy);
          const box = { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom };
          const clip = element("clipPath", { id: id + "-clip" }, element("defs", {}, svg));
          element("rect", box, clip);
          const group = element("g", { "clip-path": "url(#" + id + "-clip)" }, svg);
          for (const s of series) {
            if (s.dots) {
              const radius = s.xy.length > 100 ? 2 : 3.5;
              for (const [x, y] of s.xy) {
                element("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: radius, class: s.kind }, group);
              }
            } else if (s.xy.length) {
              const d = s.xy.map(([x, y], i) => (i ? "L" : "M") + sx(x).toFixed(1) + " " + sy(y).toFixed(1)).join("");
              element("path", { d: d, class: s.kind }, group);
            }
          }
          element("rect", Object.assign({ class: "frame" }, box), svg);
        }

        function ticks(low, high, count) {
          const raw = (high - low) / count;
          if (!(raw > 0) || !isFinite(raw)) return [low];
          const power = Math.pow(10, Math.floor(Math.log10(raw)));
          const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
          const values = [];
          for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9 && values.length < 20; v += step) {
            values.push(v);
          }
          return values;
        }

        function short(v) {
          const a = Math.abs(v);
          if (a >= 1e6) return Number((v / 1e6).toPrecision(3)) + "M";
          if (a >= 1e4) return Number((v / 1e3).toPrecision(3)) + "k";
          return String(Number(v.toPrecision(3)));
        }

        function axes(svg, [x0, x1, y0, y1], sx, sy) {
          for (const y of ticks(y0, y1, 4)) {
            const at = sy(y).toFixed(1);
            element("line", { x1: M.left, x2: W - M.right, y1: at, y2: at, class: "grid" }, svg);
            label(svg, M.left - 6, sy(y) + 4, short(y), "end");
          }
          for (const x of ticks(x0, x1, 5)) label(svg, sx(x), H - 8, short(x), "middle");
        }

        function workers(status) {
          const body = document.getElementById("workers");
          while (body.firstChild) body.removeChild(body.firstChild);
          const list = Array.isArray(status.workers) ? status.workers : [];
          for (const w of list) {
            const awaited = Array.isArray(w.awaited_shards) ? w.awaited_shards : [];
            const cells = [
              w.rank, w.name, Array.isArray(w.shards) ? w.shards.join(", ") : "", fixed(w.examples_per_s, 0),
              fixed(w.last_heard_s, 1) + " s", awaited.length ? "shards " + awaited.join(", ") : "",
            ];
            const row = body.insertRow();
            for (const cell of cells) row.insertCell().textContent = String(cell);
          }
          if (list.length === 0) {
            const cell = body.insertRow().insertCell();
            cell.colSpan = 6;
            cell.textContent = "none: the run computes in-process, or no worker has registered yet";
          }
        }

        poll();
        """#
}
