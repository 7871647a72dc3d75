/// The page `GET /` serves: the run as it happens, drawn in the browser from `/history` and
/// `/status`, polled every second. Self-contained (inline CSS, script and SVG): nothing is fetched
/// from anywhere but the coordinator. Every figure and name reaches the page through
/// `textContent` or an SVG attribute, never as markup.
enum LivePage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Descent: live</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
        header { display: flex; align-items: baseline; gap: 1em; }
        h1 { font-size: 1.4em; margin: 0; }
        h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
        .state { padding: .1em .6em; border-radius: 1em; background: #e8eef7; }
        .figures { display: flex; flex-wrap: wrap; gap: .4em 1.6em; margin: 1em 0 .6em; }
        .figures div { display: flex; flex-direction: column; }
        .figures span.name { color: #777; font-size: .85em; }
        .figures b { font-size: 1.25em; font-variant-numeric: tabular-nums; }
        .bar { height: 6px; background: #eee; border-radius: 3px; overflow: hidden; }
        .bar div { height: 100%; width: 0; background: #1f77b4; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1em; }
        figure { margin: 0; }
        figcaption { font-weight: 600; margin: .8em 0 .2em; }
        svg { width: 100%; height: auto; background: #fcfcfc; }
        svg text { font-size: 11px; fill: #666; }
        svg .grid { stroke: #e4e4e4; }
        svg .frame { fill: none; stroke: #bbb; }
        svg path { fill: none; stroke-linejoin: round; }
        svg path.raw { stroke: #1f77b4; stroke-width: 1; opacity: .25; }
        svg path.smooth { stroke: #1f77b4; stroke-width: 2; }
        svg circle.test { fill: #d62728; }
        .legend { color: #777; font-size: .85em; }
        .legend i { display: inline-block; width: 1.2em; height: 3px; vertical-align: middle; margin: 0 .3em 0 .8em; }
        table { border-collapse: collapse; min-width: 60%; }
        th, td { text-align: left; padding: .25em .9em .25em 0; border-bottom: 1px solid #eee; }
        td { font-variant-numeric: tabular-nums; }
        #note { color: #a33; }
        </style>
        </head>
        <body>
        <header><h1>Descent</h1><span id="state" class="state">connecting</span></header>
        <section class="figures">
        <div><span class="name">step</span><b><span id="step">0</span> / <span id="total">–</span></b></div>
        <div><span class="name">epoch</span><b id="epoch">–</b></div>
        <div><span class="name">train loss</span><b id="loss">–</b></div>
        <div><span class="name">train accuracy</span><b id="accuracy">–</b></div>
        <div><span class="name">test (last evaluation)</span><b id="test">–</b></div>
        <div><span class="name">examples/s</span><b id="speed">–</b></div>
        <div><span class="name">learning rate</span><b id="lr">–</b></div>
        <div><span class="name">ETA</span><b id="eta">–</b></div>
        </section>
        <div class="bar"><div id="progress"></div></div>
        <section class="charts">
        <figure><figcaption>loss</figcaption><svg id="loss-chart" viewBox="0 0 480 220"></svg></figure>
        <figure><figcaption>accuracy</figcaption><svg id="accuracy-chart" viewBox="0 0 480 220"></svg></figure>
        <figure><figcaption>examples/s</figcaption><svg id="speed-chart" viewBox="0 0 480 220"></svg></figure>
        </section>
        <p class="legend"><i style="background:#1f77b4;opacity:.3"></i>train, each step
        <i style="background:#1f77b4"></i>train, smoothed (EMA)
        <i style="background:#d62728;height:7px;width:7px;border-radius:50%"></i>test, each evaluation</p>
        <h2>workers</h2>
        <table>
        <thead><tr><th>rank</th><th>name</th><th>shards</th><th>examples/s</th><th>last heard</th><th>waited for</th></tr></thead>
        <tbody id="workers"></tbody>
        </table>
        <p id="note"></p>
        <script>
        \#(script)
        </script>
        </body>
        </html>

        """#
}
