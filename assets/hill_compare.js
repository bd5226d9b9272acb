/* Clientside callbacks of the Compare page (pages/compare.py): linking the two maps and
 * playing through the chunks, in the browser, with no request to the server.
 *
 * Every map point carries its global index as its plotly id (trace.ids), so a selection
 * is a list of indices that means the same points on either map.
 */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    hill_compare: {
        /* A lasso or box on either map (or "Clear selection") -> the shared selection. */
        selectionFromMaps: function (selGuided, selBaseline, _clear, figGuided, figBaseline) {
            const ctx = window.dash_clientside.callback_context;
            const trig = ctx.triggered.length ? ctx.triggered[0].prop_id : '';
            const empty = {indices: [], source: ''};
            if (trig.startsWith('compare-clear-selection')) {
                return empty;
            }
            const guided = trig.startsWith('compare-guided-graph');
            const sel = guided ? selGuided : selBaseline;
            if (!sel) {
                return empty;  // a double-click on the map: deselect
            }
            if (!sel.points || !sel.points.length) {
                // plotly reports an empty selection when a lasso outline is removed (we do
                // that when another source selects): not a choice of the user
                return window.dash_clientside.no_update;
            }
            const fig = guided ? figGuided : figBaseline;
            const seen = new Set();
            sel.points.forEach(function (p) {
                const trace = fig && fig.data && fig.data[p.curveNumber];
                const id = trace && trace.ids ? trace.ids[p.pointNumber] : undefined;
                if (id !== undefined) {
                    seen.add(Number(id));
                }
            });
            const indices = Array.from(seen).sort(function (a, b) { return a - b; });
            const from = guided ? 'compare-guided-graph' : 'compare-baseline-graph';
            return {indices: indices, source: 'lasso on the ' + (guided ? 'guided' : 'baseline') + ' map', from: from};
        },

        /* The shared selection -> highlighted points on both maps (the rest greyed) + a caption. */
        highlight: function (selection, figGuided, figBaseline) {
            const noUpdate = window.dash_clientside.no_update;
            const indices = (selection && selection.indices) || [];
            const chosen = new Set(indices);
            const stamp = Date.now();
            const from = (selection && selection.from) || '';
            function patch(fig, id) {
                if (!fig || !fig.data || !fig.data.length) {
                    return noUpdate;
                }
                const p = new window.dash_clientside.Patch();
                // a fresh selection revision: plotly drops the selection a lasso left behind
                // (and its outline), so the points below are what both maps highlight
                p.assign(['layout', 'selectionrevision'], stamp);
                if (id !== from) {
                    p.assign(['layout', 'selections'], []);  // an old lasso outline goes
                }
                let touched = false;
                fig.data.forEach(function (trace, i) {
                    if (!trace.ids) {
                        return;
                    }
                    touched = true;
                    if (!indices.length) {
                        p.assign(['data', i, 'selectedpoints'], null);
                        return;
                    }
                    const at = [];
                    const ids = trace.ids;
                    for (let j = 0; j < ids.length; j++) {
                        if (chosen.has(Number(ids[j]))) {
                            at.push(j);
                        }
                    }
                    p.assign(['data', i, 'selectedpoints'], at);
                });
                return touched ? p.build() : noUpdate;
            }
            const n = indices.length;
            const source = (selection && selection.source) || '';
            const caption = n
                ? n.toLocaleString() + ' point' + (n === 1 ? '' : 's') + ' selected (' +
                  source + '), shown on both maps.'
                : source ? 'No point to select (' + source + ').'
                : 'Lasso or box-select on either map, or click a class bar or a confusion cell: ' +
                  'the same points light up on both maps.';
            return [patch(figGuided, 'compare-guided-graph'), patch(figBaseline, 'compare-baseline-graph'), caption];
        },

        /* Zoom or pan on one map -> the same axis ranges on the other (when the switch is on). */
        shareZoom: function (relGuided, relBaseline, on) {
            const noUpdate = window.dash_clientside.no_update;
            const ctx = window.dash_clientside.callback_context;
            if (!on || !ctx.triggered.length) {
                return noUpdate;
            }
            const fromGuided = ctx.triggered[0].prop_id.startsWith('compare-guided-graph');
            const rel = (fromGuided ? relGuided : relBaseline) || {};
            if (!Object.keys(rel).some(function (k) { return k.startsWith('xaxis') || k.startsWith('yaxis'); })) {
                return noUpdate;
            }
            const src = document.querySelector(
                '#' + (fromGuided ? 'compare-guided-graph' : 'compare-baseline-graph') + ' .js-plotly-plot');
            const dst = document.querySelector(
                '#' + (fromGuided ? 'compare-baseline-graph' : 'compare-guided-graph') + ' .js-plotly-plot');
            if (!src || !dst || !src._fullLayout || !dst._fullLayout || !dst._fullLayout.xaxis ||
                !dst.data || !dst.data.length || dst.data[0].ids === undefined) {
                return noUpdate;
            }
            const xs = src._fullLayout.xaxis.range, ys = src._fullLayout.yaxis.range;
            const xd = dst._fullLayout.xaxis.range, yd = dst._fullLayout.yaxis.range;
            const close = function (a, b) {
                const tol = 1e-9 * Math.max(1, Math.abs(a[1] - a[0]));
                return Math.abs(a[0] - b[0]) <= tol && Math.abs(a[1] - b[1]) <= tol;
            };
            if (close(xs, xd) && close(ys, yd)) {
                return noUpdate;  // already the same: the echo of our own relayout
            }
            window.Plotly.relayout(dst, {'xaxis.range': xs.slice(), 'yaxis.range': ys.slice()});
            return Date.now();
        },

        /* Play / Pause: start from the first chunk when the slider sits on the last. */
        togglePlay: function (_n, disabled, value, max, sliderDisabled) {
            const noUpdate = window.dash_clientside.no_update;
            if (sliderDisabled) {
                return [true, '▶ Play', noUpdate];
            }
            if (disabled) {
                const start = (value >= max) ? 0 : value;
                return [false, '⏸ Pause', start === value ? noUpdate : start];
            }
            return [true, '▶ Play', noUpdate];
        },

        /* One tick while playing: the next chunk once this one is drawn; stop on the last. */
        playStep: function (_n, value, max, shown) {
            const noUpdate = window.dash_clientside.no_update;
            if (shown !== value && shown !== null && shown !== undefined) {
                return [noUpdate, noUpdate, noUpdate];  // still drawing: wait a tick
            }
            if (value >= max) {
                return [noUpdate, true, '▶ Play'];
            }
            const next = value + 1;
            return next >= max ? [next, true, '▶ Play'] : [next, noUpdate, noUpdate];
        },

        /* The camera button saves PNG or SVG. */
        imageFormat: function (fmt) {
            const configs = Array.prototype.slice.call(arguments, 1);
            return configs.map(function (c) {
                const cfg = Object.assign({}, c || {});
                cfg.toImageButtonOptions = Object.assign({}, cfg.toImageButtonOptions || {}, {format: fmt});
                return cfg;
            });
        }
    }
});
