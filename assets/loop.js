/* The Loop page in the browser: the lasso's selection as a bitset, and keyboard shortcuts.
 *
 * storeSelection turns plotly's selectedData into the selection store the server reads:
 * a base64 bitset (bit i of byte i >> 3 is point i), not a list of point objects, so a
 * lasso over 200,000 points sends ~33 kB instead of megabytes. It mirrors
 * hill_dash.dashboard.selection.with_selection / next_selection.
 */
(function () {
    "use strict";
    var MAIN = 0; // the points trace of the map

    function encodeBits(points) {
        var max = -1, i, p;
        for (i = 0; i < points.length; i++) {
            p = points[i];
            if ((p.curveNumber || 0) === MAIN && p.pointIndex > max) max = p.pointIndex;
        }
        if (max < 0) return {bits: "", count: 0};
        var bytes = new Uint8Array((max >> 3) + 1), count = 0, k;
        for (i = 0; i < points.length; i++) {
            p = points[i];
            if ((p.curveNumber || 0) !== MAIN || typeof p.pointIndex !== "number") continue;
            k = p.pointIndex;
            if (!(bytes[k >> 3] & (1 << (k & 7)))) count++;
            bytes[k >> 3] |= 1 << (k & 7);
        }
        var s = "", step = 0x8000;
        for (i = 0; i < bytes.length; i += step) {
            s += String.fromCharCode.apply(null, bytes.subarray(i, i + step));
        }
        return {bits: btoa(s), count: count};
    }

    function storeSelection(selected, current, shownKey) {
        var noUpdate = window.dash_clientside.no_update;
        current = current || {};
        var enc = encodeBits((selected && selected.points) || []);
        if (!enc.count && current.bits && current.key !== shownKey) {
            // a chunk (or the validation toggle) redrew the map: plotly reports an empty
            // selection the person did not make; keep it, it is redrawn on the new map
            return [Object.assign({}, current, {key: shownKey}), noUpdate, noUpdate];
        }
        if (enc.bits === (current.bits || "")) return [noUpdate, noUpdate, noUpdate];
        return [
            {
                bits: enc.bits,
                count: enc.count,
                previous: current.bits || current.previous || "",
                rev: (current.rev || 0) + 1,
                key: shownKey,
                source: "lasso",
            },
            0,
            0,
        ];
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        hill: Object.assign({}, (window.dash_clientside || {}).hill, {
            storeSelection: storeSelection,
        }),
    });

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
