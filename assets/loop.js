/* The Loop page in the browser: its own lasso, the selection as a bitset, keyboard shortcuts.
 *
 * The lasso (and box select) is drawn by the page, not by plotly: plotly re-renders every
 * point on each mouse move of its lasso, which on a large map (or a software-rendered
 * WebGL) blocks the page for hundreds of milliseconds per move. Here a drag only moves
 * an SVG outline; on release the points inside are found in the trace's typed arrays
 * and stored as a base64 bitset (bit i of byte i >> 3 is point i): a lasso over 200,000
 * points sends ~33 kB, not megabytes of plotly point objects. The server answers with
 * the caption; the page draws the selection itself (drawSelection: one frame of the
 * points, no recalculation), whichever way it changed (lasso, Find, Undo, Clear).
 * Shift adds to the selection, Alt subtracts. A click without a drag is reported as the
 * graph's clickData (the move gesture), a double click clears.
 * The store mirrors hill_dash.dashboard.selection.with_selection.
 */
(function () {
    "use strict";
    var MAIN = 0; // the points trace of the map
    var GRAPH = "latent-graph";
    var mirror = {sel: null, key: ""}; // the selection store and map key, kept by mirrorSelection

    function b64ToBytes(text) {
        if (!text) return new Uint8Array(0);
        var raw = atob(text), out = new Uint8Array(raw.length);
        for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
        return out;
    }

    function bytesToB64(bytes) {
        var last = bytes.length;
        while (last > 0 && bytes[last - 1] === 0) last--;
        if (!last) return "";
        var s = "", step = 0x8000;
        for (var i = 0; i < last; i += step) {
            s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + step, last)));
        }
        return btoa(s);
    }

    function bitsToIndices(bytes, n) {
        var out = [], i, b, k;
        for (i = 0; i < bytes.length; i++) {
            b = bytes[i];
            if (!b) continue;
            for (k = 0; k < 8; k++) {
                if (b & (1 << k) && (i << 3) + k < n) out.push((i << 3) + k);
            }
        }
        return out;
    }

    function newStore(current, bits, count, key, source) {
        current = current || {};
        return {
            bits: bits,
            count: count,
            previous: current.bits || current.previous || "",
            rev: (current.rev || 0) + 1,
            key: key,
            source: source,
        };
    }

    function mirrorSelection(sel, key) {
        mirror.sel = sel;
        mirror.key = key;
        var ctx = window.dash_clientside.callback_context;
        var fromStore = !ctx || !ctx.triggered || ctx.triggered.some(function (t) {
            return t.prop_id === "selection-store.data";
        });
        var gd = plotDiv();
        if (fromStore && gd) drawSelection(gd, sel && sel.bits ? b64ToBytes(sel.bits) : null);
        return window.dash_clientside.no_update;
    }

    // -- the selection on the map, drawn by the page -------------------------------------
    // A selection changes which points plotly's scattergl draws in full colour. Through
    // plotly's API (`selectedpoints`) that is a full recalculation of every point (0.6 s at
    // 70 000 points, 1.5 s at 200 000 on a software-rendered WebGL) before one frame; the
    // page instead hands the new batches to the trace's scene, as plotly's own lasso does
    // (traces/scattergl/select.js), and draws once: the cost of a colour update. The trace
    // keeps `selectedpoints` in step, so every later redraw by plotly shows the same.

    function sameIndices(a, b) {
        if (!a || !b) return (!a || !a.length) && (!b || !b.length);
        if (a.length !== b.length) return false;
        for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
        return true;
    }

    function drawSelection(gd, bytes) {
        var fd = gd._fullData && gd._fullData[MAIN], trace = gd.data && gd.data[MAIN];
        if (!fd || !trace) return;
        var n = fd._length || 0;
        var idx = bytes ? bitsToIndices(bytes, n) : [];
        if (sameIndices(fd.selectedpoints, idx)) return; // already drawn
        var value = idx.length ? idx : null;
        if (!drawOnScene(gd, idx, n)) {
            window.Plotly.restyle(gd, {selectedpoints: [value]}, [MAIN]);
            return;
        }
        trace.selectedpoints = value; // what plotly (and Dash's figure) draw from now on
        fd.selectedpoints = value;
    }

    function drawOnScene(gd, idx, n) {
        var cd = gd.calcdata && gd.calcdata[MAIN] && gd.calcdata[MAIN][0];
        var stash = cd && cd.t, scene = stash && stash._scene;
        if (!scene || !scene.scatter2d || !scene.select2d || !scene.selectBatch ||
            !scene.markerUnselectedOptions || typeof scene.draw !== "function") return false;
        var k = stash.index, s2 = scene.scatter2d, opts = [];
        if (!scene.selectBatch[k] || !scene.unselectBatch[k]) return false;
        for (var t = 0; t < scene.count; t++) opts.push({});
        // one list of per-trace options, as plotly's plot step passes them (spread as
        // separate arguments, the unselected colour would not replace the points' own)
        var unsel = [];
        if (idx.length) {
            var inSel = new Uint8Array(n);
            for (var i = 0; i < idx.length; i++) inSel[idx[i]] = 1;
            for (var j = 0; j < n; j++) if (!inSel[j]) unsel.push(j);
            // the rest faded (plotly's next full redraw, e.g. a zoom, also greys them)
            opts[k] = scene.markerUnselectedOptions[k];
        } else {
            opts[k] = scene.markerOptions[k]; // back to the points' own style
        }
        s2.update(opts);
        scene.selectBatch[k] = idx;
        scene.unselectBatch[k] = unsel;
        scene.draw();
        return true;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        hill: Object.assign({}, (window.dash_clientside || {}).hill, {
            mirrorSelection: mirrorSelection,
        }),
    });

    // -- the lasso ---------------------------------------------------------------------------

    var drag = null;
    var lastClick = {t: 0, x: -99, y: -99};

    function plotDiv() {
        return document.querySelector("#" + GRAPH + " .js-plotly-plot");
    }

    function setProps(id, props) {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(id, props);
        }
    }

    function outline(rect) {
        var ns = "http://www.w3.org/2000/svg";
        var svg = document.createElementNS(ns, "svg");
        svg.setAttribute("class", "hill-lasso");
        svg.style.cssText = "position:fixed;pointer-events:none;z-index:1000;left:" + rect.left +
            "px;top:" + rect.top + "px;width:" + rect.width + "px;height:" + rect.height + "px";
        var path = document.createElementNS(ns, "path");
        path.setAttribute("fill", "rgba(31,95,191,0.06)");
        path.setAttribute("stroke", "#1f5fbf");
        path.setAttribute("stroke-width", "1.5");
        path.setAttribute("stroke-dasharray", "4 3");
        svg.appendChild(path);
        document.body.appendChild(svg);
        return {svg: svg, path: path};
    }

    function polygonOf(d) {
        if (d.mode === "select") {
            var a = d.pts[0], b = d.pts[d.pts.length - 1];
            return [a, [b[0], a[1]], b, [a[0], b[1]]];
        }
        return d.pts;
    }

    function drawOutline() {
        if (!drag) return;
        drag.frame = 0;
        var poly = polygonOf(drag);
        drag.outline.path.setAttribute("d", "M" + poly.map(function (p) {
            return p[0].toFixed(1) + "," + p[1].toFixed(1);
        }).join("L") + "Z");
    }

    function onDown(ev) {
        if (ev.button !== 0) return;
        var gd = plotDiv();
        if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData[MAIN]) return;
        var mode = gd._fullLayout.dragmode;
        if (mode !== "lasso" && mode !== "select") return;
        var area = gd.querySelector(".nsewdrag");
        if (ev.target !== area) return; // the selection box and the mode bar stay plotly's
        ev.stopPropagation();
        ev.preventDefault();
        var r = area.getBoundingClientRect();
        drag = {
            gd: gd, rect: r, mode: mode, shift: ev.shiftKey, alt: ev.altKey, moved: false,
            x0: ev.clientX, y0: ev.clientY,
            pts: [[ev.clientX - r.left, ev.clientY - r.top]],
            outline: outline(r), frame: 0,
        };
        if (window.Plotly && window.Plotly.Fx) window.Plotly.Fx.unhover(gd);
        setProps(GRAPH, {hoverData: null}); // nothing stays "under the pointer" while dragging
        window.addEventListener("mousemove", onMove, true);
        window.addEventListener("mouseup", onUp, true);
    }

    function onMove(ev) {
        if (!drag) return;
        ev.stopPropagation(); // no hover work while the lasso is drawn
        var r = drag.rect;
        var x = Math.min(Math.max(ev.clientX - r.left, 0), r.width);
        var y = Math.min(Math.max(ev.clientY - r.top, 0), r.height);
        var last = drag.pts[drag.pts.length - 1];
        if (Math.abs(ev.clientX - drag.x0) + Math.abs(ev.clientY - drag.y0) > 3) drag.moved = true;
        if (Math.abs(x - last[0]) + Math.abs(y - last[1]) < 2) return;
        drag.pts.push([x, y]);
        if (!drag.frame) drag.frame = requestAnimationFrame(drawOutline);
    }

    function onUp(ev) {
        window.removeEventListener("mousemove", onMove, true);
        window.removeEventListener("mouseup", onUp, true);
        var d = drag;
        drag = null;
        if (!d) return;
        if (d.frame) cancelAnimationFrame(d.frame);
        d.outline.svg.remove();
        if (!d.moved) return click(d, ev);
        var r = d.rect;
        d.pts.push([Math.min(Math.max(ev.clientX - r.left, 0), r.width),
                    Math.min(Math.max(ev.clientY - r.top, 0), r.height)]);
        select(d.gd, polygonOf(d), d.shift, d.alt);
    }

    function click(d, ev) {
        var now = performance.now();
        var near = Math.abs(ev.clientX - lastClick.x) + Math.abs(ev.clientY - lastClick.y) < 6;
        if (now - lastClick.t < 400 && near) {
            lastClick = {t: 0, x: -99, y: -99};
            var clear = document.getElementById("clear-selection-button");
            if (clear) clear.click(); // a double click clears the selection
            return;
        }
        lastClick = {t: now, x: ev.clientX, y: ev.clientY};
        var fl = d.gd._fullLayout, p = d.pts[0];
        setProps(GRAPH, {clickData: {
            points: [], xvals: [fl.xaxis.p2l(p[0])], yvals: [fl.yaxis.p2l(p[1])],
            timestamp: Date.now(),
        }});
    }

    function zero(id) { // a new selection starts without a move; unchanged fields stay quiet
        var el = document.getElementById(id);
        if (!el || Number(el.value) !== 0 || el.value === "") setProps(id, {value: 0});
    }

    function select(gd, poly, add, subtract) {
        var fl = gd._fullLayout, fd = gd._fullData[MAIN];
        var xs = fd.x, ys = fd.y, n = fd._length || 0;
        var m = poly.length, px = new Float64Array(m), py = new Float64Array(m), i, j;
        var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (i = 0; i < m; i++) {
            px[i] = fl.xaxis.p2l(poly[i][0]);
            py[i] = fl.yaxis.p2l(poly[i][1]);
            x0 = Math.min(x0, px[i]); x1 = Math.max(x1, px[i]);
            y0 = Math.min(y0, py[i]); y1 = Math.max(y1, py[i]);
        }
        var cur = (add || subtract) && mirror.sel ? b64ToBytes(mirror.sel.bits) : null;
        var bytes = new Uint8Array((n >> 3) + 1);
        if (cur) bytes.set(cur.subarray(0, bytes.length));
        for (var k = 0; k < n; k++) {
            var x = xs[k], y = ys[k];
            if (x < x0 || x > x1 || y < y0 || y > y1) continue;
            var inside = false;
            for (i = 0, j = m - 1; i < m; j = i++) {
                if ((py[i] > y) !== (py[j] > y) &&
                    x < (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i]) + px[i]) inside = !inside;
            }
            if (!inside) continue;
            if (subtract) bytes[k >> 3] &= ~(1 << (k & 7));
            else bytes[k >> 3] |= 1 << (k & 7);
        }
        var idx = bitsToIndices(bytes, n);
        var store = newStore(mirror.sel, bytesToB64(bytes), idx.length, mirror.key, "lasso");
        setProps("selection-store", {data: store}); // the server answers with the caption
        zero("move-dx");
        zero("move-dy");
        setTimeout(function () { drawSelection(gd, bytes); }, 0); // once the request is out
    }

    document.addEventListener("mousedown", onDown, true);

    // -- typed arrays in place -----------------------------------------------------------
    // The server sends arrays as base64 specs ({dtype, bdata}); plotly decodes a spec anew
    // on every update, so each later patch (a box, a ghost) would recompute and redraw all
    // points. Once plotly has decoded them, the figure keeps the decoded arrays instead
    // (the figure object is shared with Dash): a shape patch then redraws only shapes.

    function isSpec(v) {
        return v && typeof v === "object" && !ArrayBuffer.isView(v) && !Array.isArray(v) &&
            typeof v.dtype === "string" && "bdata" in v;
    }

    function unpack(gd) {
        (gd.data || []).forEach(function (trace) {
            ["x", "y", "selectedpoints"].forEach(function (k) {
                if (isSpec(trace[k]) && trace[k]._inputArray) trace[k] = trace[k]._inputArray;
            });
            var m = trace.marker;
            if (m && isSpec(m.color) && m.color._inputArray) m.color = m.color._inputArray;
        });
    }

    // One map unit is as long on both axes (a PCA or UMAP map has no preferred direction).
    // Set once per new map while the axes are autoranged, by widening the shorter range;
    // not with plotly's scaleanchor, which recomputes every point on each zoom.
    function equalAspect(gd) {
        var fl = gd._fullLayout, xa = fl && fl.xaxis, ya = fl && fl.yaxis;
        var key = (gd.layout && gd.layout.selectionrevision) || "";
        if (!xa || !ya || gd.__hillAspectKey === key || !(gd._fullData || []).length) return;
        if (!gd._fullData[MAIN] || !gd._fullData[MAIN]._length) return;
        gd.__hillAspectKey = key;
        if (!xa.autorange || !ya.autorange) return; // the person's zoom stays
        var xr = xa.range.slice(), yr = ya.range.slice();
        var ux = (xr[1] - xr[0]) / xa._length, uy = (yr[1] - yr[0]) / ya._length;
        var upd = {};
        if (ux > uy) {
            var hy = ux * ya._length / 2, cy = (yr[0] + yr[1]) / 2;
            upd = {"yaxis.range": [cy - hy, cy + hy]};
        } else {
            var hx = uy * xa._length / 2, cx = (xr[0] + xr[1]) / 2;
            upd = {"xaxis.range": [cx - hx, cx + hx]};
        }
        window.Plotly.relayout(gd, upd);
    }

    function onAfterPlot() {
        var gd = plotDiv();
        if (!gd) return;
        unpack(gd);
        equalAspect(gd);
    }

    function afterPlotListeners(gd) {
        if (gd._ev && typeof gd._ev.listeners === "function") {
            return gd._ev.listeners("plotly_afterplot");
        }
        if (typeof gd.listeners === "function") return gd.listeners("plotly_afterplot");
        return null;
    }

    function hook() {
        var gd = plotDiv();
        if (!gd || !gd.on) return;
        // (re)attach: a new plot element, or plotly dropped its listeners (purge/newPlot).
        // plotly.js keeps them on its emitter gd._ev (older builds: gd.listeners); with
        // neither to read, a flag on the element keeps this from adding one every tick.
        var listeners = afterPlotListeners(gd);
        var hooked = listeners ? listeners.indexOf(onAfterPlot) >= 0 : gd.__hillHooked;
        if (hooked) return;
        gd.on("plotly_afterplot", onAfterPlot);
        gd.__hillHooked = true;
        onAfterPlot();
    }

    // -- SVG downloads: a small button by each figure (the mode bar's camera gives PNG) ------

    document.addEventListener("click", function (ev) {
        var btn = ev.target && ev.target.closest && ev.target.closest(".hill-svg");
        if (!btn) return;
        var gd = document.querySelector("#" + btn.getAttribute("data-graph") + " .js-plotly-plot");
        if (gd && window.Plotly) {
            window.Plotly.downloadImage(gd, {
                format: "svg", filename: btn.getAttribute("data-filename") || "hill-figure",
            });
        }
    });

    setInterval(hook, 300);

    // -- keyboard: Ctrl/Cmd-Z undo, Ctrl/Cmd-Shift-Z redo, Esc clears, Enter applies --------

    function clickIfEnabled(id) {
        var el = document.getElementById(id);
        if (el && !el.disabled) {
            el.click();
            return true;
        }
        return false;
    }

    function typing(target) {
        var tag = (target && target.tagName) || "";
        return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "radio"
            && target.type !== "checkbox") || (target && target.isContentEditable);
    }

    document.addEventListener("keydown", function (ev) {
        if (!document.getElementById("latent-graph")) return; // not on the Loop page
        var mod = ev.ctrlKey || ev.metaKey;
        var key = (ev.key || "").toLowerCase();
        var done = false;
        if (mod && key === "z" && !typing(ev.target)) {
            done = clickIfEnabled(ev.shiftKey ? "redo-button" : "undo-button");
        } else if (key === "escape") {
            done = clickIfEnabled("clear-selection-button");
        } else if (key === "enter" && !mod && !ev.shiftKey) {
            var t = ev.target, id = (t && t.id) || "", tag = (t && t.tagName) || "";
            if (tag === "BUTTON" || tag === "A") return; // Enter on a button clicks that button
            // Enter in a field of "Find points" finds; elsewhere (the map, an edit field) applies
            if (id === "find-indices" || id === "find-k") done = clickIfEnabled("find-button");
            else if (!typing(t) || /^(move-d[xy]|pull-alpha|compact-beta|separate-gamma)$/.test(id)) {
                done = clickIfEnabled("apply-edit-button");
            }
        }
        if (done) ev.preventDefault();
    });
})();
