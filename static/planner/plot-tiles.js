/* The planner's vector-tile layer: every plot of the workspace on a canvas, coloured by the current run and filters.
 *
 * Tiles come from the app (ui/tileserver.py, /_planner/vt/<layer>/<stamp>/{z}/{x}/{y}) as Mapbox Vector Tiles
 * (geo/vtiles.py): features carry an id and a geometry, no attributes.  The colour of each feature is looked
 * up by id in a byte array the app makes per run, colouring and filter set (the "style" URL): 255 = not shown.
 * So a new colouring or filter re-paints the canvases from the tiles already decoded, without fetching tiles.
 *
 * Drawing: one Path2D per colour per tile, filled once ("evenodd"); points (plots too small to draw at this
 * zoom) as small squares written into the canvas's pixels, or — a layer of points such as the firms
 * (pointShape "circle", pointStroke) — as small outlined circles, and below outlineZoom (where thousands crowd a
 * screen) as plain dots of pointLow's size, colour and opacity, written into the pixels too.  Zooms above the
 * set's highest native zoom are drawn from the parent tile, zooms below its lowest (up to 3 levels) from the
 * child tiles, so every zoom shows every plot.
 * Decoded tiles, style arrays and painted canvases are kept in a page-wide cache, because streamlit-folium
 * re-creates the map's dynamic layers on each rerun that changes them.
 *
 * Needs Leaflet and pbf (static/pbf-3.3.0, global Pbf).  Written for this app (no vector-tile plug-in draws
 * a million features per view: Leaflet.VectorGrid makes a Leaflet path object per feature).
 */
(function () {
    "use strict";
    var HIDDEN = 255, MAX_TILES = 600, MAX_CANVASES = 400, UNDERZOOM = 3;
    var cache = window.__plannerTileCache = window.__plannerTileCache ||
        {tiles: new Map(), styles: new Map(), canvases: new Map()};

    function remember(map, key, value, max) {
        map.delete(key);
        map.set(key, value);
        while (map.size > max) { map.delete(map.keys().next().value); }
        return value;
    }

    // --- decoding (MVT 2.1: Tile.layers = 3; Layer.name = 1, features = 2, extent = 5; Feature.id = 1, type = 3,
    // geometry = 4) into flat arrays: per feature id, type, first ring; per ring first vertex and vertex count.
    function decode(buffer) {
        var pbf = new Pbf(new Uint8Array(buffer));
        var out = {ids: [], types: [], ringStart: [], rings: [], ringLen: [], xy: [], extent: 4096, n: 0};
        out.ringStart.push(0);
        pbf.readFields(function (tag, o, p) {
            if (tag === 3) { p.readMessage(readLayer, o); }
        }, out);
        out.ids = Float64Array.from(out.ids);
        out.types = Uint8Array.from(out.types);
        out.ringStart = Uint32Array.from(out.ringStart);
        out.rings = Uint32Array.from(out.rings);
        out.ringLen = Uint32Array.from(out.ringLen);
        out.xy = Int32Array.from(out.xy);
        return out;
    }

    function readLayer(tag, o, p) {
        if (tag === 2) { p.readMessage(readFeature, o); }
        else if (tag === 5) { o.extent = p.readVarint(); }
    }

    function readFeature(tag, o, p) {
        if (tag === 1) { o.ids.push(p.readVarint()); }
        else if (tag === 3) { o.types.push(p.readVarint()); }
        else if (tag === 4) {
            var end = p.readVarint() + p.pos, x = 0, y = 0, cmd = 0, count = 0, vertices = 0;
            while (p.pos < end) {
                if (count === 0) { var c = p.readVarint(); cmd = c & 7; count = c >> 3; }
                count--;
                if (cmd === 1 || cmd === 2) {
                    x += p.readSVarint(); y += p.readSVarint();
                    if (cmd === 1) {
                        if (vertices) { o.ringLen.push(vertices); }
                        o.rings.push(o.xy.length / 2); vertices = 0;
                    }
                    o.xy.push(x, y); vertices++;
                }
            }
            if (vertices) { o.ringLen.push(vertices); }
            o.ringStart.push(o.rings.length);
            o.n++;
        }
    }

    function fetchTile(url) {
        var hit = cache.tiles.get(url);
        if (hit) { return remember(cache.tiles, url, hit, MAX_TILES); }
        var promise = fetch(url, {credentials: "same-origin"}).then(function (r) {
            if (r.status === 204) { return null; }  // nothing there
            if (!r.ok) { throw new Error("tile " + r.status); }
            return r.arrayBuffer().then(decode);
        }).catch(function (e) { cache.tiles.delete(url); throw e; });
        return remember(cache.tiles, url, promise, MAX_TILES);
    }

    function fetchStyle(url) {
        var hit = cache.styles.get(url);
        if (hit) { return remember(cache.styles, url, hit, 8); }
        var promise = fetch(url, {credentials: "same-origin"}).then(function (r) {
            if (!r.ok) { throw new Error("style " + r.status); }
            return r.arrayBuffer().then(function (b) { return new Uint8Array(b); });
        }).catch(function (e) { cache.styles.delete(url); throw e; });
        return remember(cache.styles, url, promise, 8);
    }

    // --- drawing ----------------------------------------------------------------------------------------------------
    // Polygons: one Path2D per colour, filled once ("evenodd": a plot's holes stay holes); outlined circles (the
    // firms up close) likewise ("nonzero": overlapping circles stay filled).  Squares and dots (plots too small
    // to draw at this zoom, firms far out) go straight into the canvas's pixels: at county zoom a tile holds
    // hundreds of thousands of them, which as rectangles of one evenodd path cancelled where an even number
    // overlapped and cost the browser seconds to fill.
    function paint(ctx, sources, codes, opt, z, ratio) {
        var low = !!opt.pointLow && z < opt.outlineZoom, circle = opt.pointShape === "circle" && !low;
        var paths = [], points = [], outline = !low && (z >= opt.outlineZoom || opt.pointStroke), drawn = 0;
        var half = opt.pointSize / 2;
        sources.forEach(function (s) {
            var t = s.tile;
            if (!t) { return; }
            var k = s.scale * 256 / t.extent, ox = s.dx, oy = s.dy, xy = t.xy;
            for (var f = 0; f < t.n; f++) {
                var code = codes[t.ids[f]];
                if (code === undefined || code === HIDDEN) { continue; }
                drawn++;
                var r0 = t.ringStart[f], r1 = t.ringStart[f + 1];
                if (t.types[f] === 1) {
                    var v = t.rings[r0] * 2, px = ox + xy[v] * k, py = oy + xy[v + 1] * k;
                    if (circle) {
                        var dots = paths[code] || (paths[code] = new Path2D());
                        dots.moveTo(px + half, py);
                        dots.arc(px, py, half, 0, 2 * Math.PI);
                    } else {
                        points.push(code, px, py);
                    }
                    continue;
                }
                var path = paths[code] || (paths[code] = new Path2D());
                for (var r = r0; r < r1; r++) {
                    var a = t.rings[r] * 2, b = a + t.ringLen[r] * 2;
                    path.moveTo(ox + xy[a] * k, oy + xy[a + 1] * k);
                    for (var i = a + 2; i < b; i += 2) { path.lineTo(ox + xy[i] * k, oy + xy[i + 1] * k); }
                    path.closePath();
                }
            }
        });
        ctx.globalAlpha = opt.fillOpacity;
        paths.forEach(function (path, code) {
            ctx.fillStyle = opt.palette[code] || opt.palette[opt.palette.length - 1];
            ctx.fill(path, circle ? "nonzero" : "evenodd");  // overlapping dots stay filled; holes need evenodd
        });
        if (outline) {
            ctx.globalAlpha = 1;
            ctx.strokeStyle = opt.stroke.color;
            ctx.lineWidth = opt.stroke.weight;
            paths.forEach(function (path) { ctx.stroke(path); });
        }
        if (points.length) {
            paintPoints(ctx, points, low ? [opt.pointLow.color] : opt.palette,
                        low ? opt.pointLow.opacity * opt.fillOpacity : opt.fillOpacity,
                        low ? opt.pointLow.size : opt.pointSize, ratio, low);
        }
        return drawn;
    }

    // (code, x, y) triples in CSS pixels → squares of ``size`` CSS pixels in the palette's "#rrggbb" colour of their
    // code (``oneColour``: the first), written into the canvas's pixels.
    function paintPoints(ctx, points, palette, opacity, size, ratio, oneColour) {
        var w = ctx.canvas.width, h = ctx.canvas.height, img = ctx.getImageData(0, 0, w, h);
        var px = new Uint32Array(img.data.buffer), alpha = Math.round(opacity * 255) << 24;
        var colours = palette.map(function (hex) {  // "#rrggbb" → the little-endian RGBA word of ImageData
            var n = parseInt(hex.slice(1, 7), 16);
            return (alpha | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
        });
        size = Math.max(1, Math.round(size * ratio));
        var half = size / 2;
        for (var p = 0; p < points.length; p += 3) {
            var c = oneColour ? colours[0] : colours[points[p]] || colours[colours.length - 1];
            var x0 = Math.round(points[p + 1] * ratio - half), y0 = Math.round(points[p + 2] * ratio - half);
            for (var y = Math.max(0, y0); y < Math.min(h, y0 + size); y++) {
                for (var x = Math.max(0, x0); x < Math.min(w, x0 + size); x++) { px[y * w + x] = c; }
            }
        }
        ctx.putImageData(img, 0, 0);
    }

    L.PlannerTiles = L.GridLayer.extend({
        options: {
            tileUrl: "", styleUrl: "", palette: ["#999999"], minNative: 10, maxNative: 16, fillOpacity: 0.85,
            stroke: {color: "#5a4632", weight: 0.4}, outlineZoom: 15, pointSize: 2.5, pointShape: "square",
            pointStroke: false, pointLow: null, plannerLayer: "plots",
            updateWhenZooming: false, keepBuffer: 1
        },

        initialize: function (options) {
            L.GridLayer.prototype.initialize.call(this, options);
            this._codes = fetchStyle(this.options.styleUrl);
        },

        _url: function (z, x, y) {
            return this.options.tileUrl.replace("{z}", z).replace("{x}", x).replace("{y}", y);
        },

        // the tiles a view tile is drawn from, each with its scale and offset (CSS pixels)
        _sources: function (c) {
            var o = this.options, out = [];
            if (c.z > o.maxNative) {
                var d = c.z - o.maxNative, px = c.x >> d, py = c.y >> d, s = 1 << d;
                out.push({url: this._url(o.maxNative, px, py), scale: s, dx: (px * s - c.x) * 256, dy: (py * s - c.y) * 256});
            } else if (c.z < o.minNative) {
                var dd = o.minNative - c.z;
                if (dd > UNDERZOOM) { return out; }
                var n = 1 << dd;
                for (var i = 0; i < n; i++) {
                    for (var j = 0; j < n; j++) {
                        out.push({url: this._url(o.minNative, c.x * n + i, c.y * n + j), scale: 1 / n,
                                  dx: i * 256 / n, dy: j * 256 / n});
                    }
                }
            } else {
                out.push({url: this._url(c.z, c.x, c.y), scale: 1, dx: 0, dy: 0});
            }
            return out;
        },

        createTile: function (coords, done) {
            var self = this, ratio = window.devicePixelRatio || 1;
            var key = this.options.tileUrl + "|" + this.options.styleUrl + "|" + ratio + "|" + coords.z + "/" +
                coords.x + "/" + coords.y;
            var kept = cache.canvases.get(key);
            if (kept && !kept.parentNode) {
                setTimeout(function () { done(null, kept); }, 0);
                return kept;
            }
            var canvas = L.DomUtil.create("canvas", "leaflet-tile planner-vt");
            canvas.width = canvas.height = 256 * ratio;
            var sources = this._sources(coords);
            Promise.all([this._codes].concat(sources.map(function (s) { return fetchTile(s.url); })))
                .then(function (res) {
                    var codes = res[0];
                    sources.forEach(function (s, i) { s.tile = res[i + 1]; });
                    var ctx = canvas.getContext("2d");
                    ctx.scale(ratio, ratio);
                    canvas._plannerSources = sources;
                    canvas._plannerDrawn = paint(ctx, sources, codes, self.options, coords.z, ratio);
                    remember(cache.canvases, key, canvas, MAX_CANVASES);
                    done(null, canvas);
                }, function (err) { done(err, canvas); });
            return canvas;
        },

        // Distinct features drawn in the tiles now shown (what a test counts): ids whose colour is not "hidden".
        drawnIds: function () {
            var self = this;
            return this._codes.then(function (codes) {
                var seen = new Uint8Array(codes.length), count = 0;
                Object.keys(self._tiles).forEach(function (k) {
                    var t = self._tiles[k];
                    if (!t.current || !t.el._plannerSources) { return; }
                    t.el._plannerSources.forEach(function (s) {
                        if (!s.tile) { return; }
                        for (var f = 0; f < s.tile.n; f++) {
                            var id = s.tile.ids[f];
                            if (codes[id] !== HIDDEN && !seen[id]) { seen[id] = 1; count++; }
                        }
                    });
                });
                return count;
            });
        },

        // The style array's counts per code (what the legend and a test compare with).
        codeCounts: function () {
            return this._codes.then(function (codes) {
                var counts = {};
                for (var i = 0; i < codes.length; i++) { counts[codes[i]] = (counts[codes[i]] || 0) + 1; }
                return counts;
            });
        }
    });

    L.plannerTiles = function (options) { return new L.PlannerTiles(options); };
})();
