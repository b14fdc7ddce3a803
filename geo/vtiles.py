"""Mapbox Vector Tiles (MVT 2.1) of a whole layer, encoded with numpy: every feature at every zoom.

A vector tile (https://github.com/mapbox/vector-tile-spec/tree/master/2.1) is a protocol-buffer
message: a ``Tile`` holds ``Layer`` s, a layer holds ``Feature`` s, a feature an ``id``, a geometry
type and a *geometry*: a stream of commands (MoveTo, LineTo, ClosePath) whose parameters are
zigzag-encoded deltas on a grid of ``extent`` units per tile side (4096 here), y pointing down.
:func:`encode_tiles` writes those bytes for every feature of a layer at once — integer
arithmetic on flat coordinate arrays, no Python loop over features (the loops are over zooms
and tiles) — so a million plots are tiled in the time a few shapely calls take.

What the tiles hold, and why:

- **Every feature at every zoom.**  A polygon smaller than :data:`TINY_PX` screen pixels
  across at a zoom (or one that its grid collapses) is written as a *point* at its
  representative point, so at county zoom each plot is still there, as a dot of its colour;
  nothing is dropped or merged.
- **No attributes.**  A feature's ``id`` is its position in the layer as given; the caller
  keeps the attributes (a planner's map colours plots by the current run and filters, which
  change far more often than the geometry), and the browser looks a feature's colour up by id.
- **Groups as layers.**  ``groups`` (e.g. the township of each plot) puts features of one group
  into their own MVT layer ``<layer>/<group>``, so a server can hand out the part of a tile a
  user may see by keeping whole layers (:func:`keep_layers`) without decoding a feature.
- **No clipping.**  A polygon touching several tiles is written whole into each (a renderer
  clips to its canvas; the spec allows geometry beyond the extent).  Its command stream is the
  same in every tile but for the first MoveTo, so it is encoded once per zoom.
- **Valid rings.**  Exterior rings wind clockwise on screen (positive surveyor's area in tile
  coordinates), interior rings the other way; repeated points after quantisation are dropped;
  rings left with under three points or no area are dropped (and a feature left without
  rings becomes a point).

Only polygons and points are encoded (plots, parks, firms); lines raise.

Examples
--------
>>> import shapely
>>> tiles = list(encode_tiles(np.array([shapely.box(120.60, 27.80, 120.61, 27.81)]), zooms=[12], layer="plots"))
>>> [(z, x, y) for z, x, y, _ in tiles]
[(12, 3420, 1709)]
"""
from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import shapely

from geo.tiles import MAX_LAT

__all__ = ["EXTENT", "TINY_PX", "MEDIA_TYPE", "encode_tiles", "spatial_order", "layer_names", "keep_layers",
           "group_layer_name", "lonlat_to_world"]

EXTENT = 4096          # grid units per tile side (the spec's usual value; 16 units per screen pixel at 256 px)
TINY_PX = 3.0          # a polygon smaller than this many screen pixels in both directions is drawn as a dot
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_TILE_PX = 256
# protocol-buffer keys (field number << 3 | wire type) of the messages written here
_TILE_LAYERS = 0x1A            # Tile.layers = 3, length-delimited
_LAYER_NAME, _LAYER_FEATURES, _LAYER_EXTENT, _LAYER_VERSION = 0x0A, 0x12, 0x28, 0x78
_FEAT_ID, _FEAT_TYPE, _FEAT_GEOM = 0x08, 0x18, 0x22
_POINT, _POLYGON = 1, 3
_MOVE_TO_1, _CLOSE = (1 | (1 << 3)), (7 | (1 << 3))


# --- projection ------------------------------------------------------------------------------------------
def lonlat_to_world(lon: np.ndarray, lat: np.ndarray, z: int, extent: int = EXTENT) -> tuple[np.ndarray, np.ndarray]:
    """Web-Mercator "world" coordinates at zoom ``z`` in tile-grid units (``extent`` per tile, y down).

    x = (lon + 180) / 360 · 2^z · extent;  y = (1 − asinh(tan φ) / π) / 2 · 2^z · extent.
    """
    scale = float(2 ** int(z)) * extent
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT)
    x = (np.asarray(lon, dtype=float) + 180.0) / 360.0 * scale
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * scale
    return x, y


def spatial_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Positions sorting points along a Z-order (Morton) curve of Web Mercator at zoom 16.

    Features in this order are near their neighbours in a tile, so the deltas of a tile's
    geometry stay small, and the features of one tile at any zoom ≤ 16 are few runs of ids.
    """
    x, y = lonlat_to_world(lon, lat, 16, extent=1)
    xi = np.clip(x, 0, 65535).astype(np.uint64)
    yi = np.clip(y, 0, 65535).astype(np.uint64)

    def spread(v):  # 16 bits → every other bit of 32
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    return np.argsort(spread(xi) | (spread(yi) << np.uint64(1)), kind="stable")


# --- protocol-buffer pieces, vectorised ---------------------------------------------------------------------
def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-128 varints of unsigned integers: (bytes, bytes per value)."""
    v = np.asarray(values, dtype=np.uint64)
    n = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        n += v >= np.uint64(1 << (7 * k)) if k < 9 else v >= np.uint64(1 << 63)
    out = np.empty(int(n.sum()), dtype=np.uint8)
    start = np.cumsum(n) - n
    for k in range(int(n.max(initial=0))):
        has = n > k
        byte = (v[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (n[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[start[has] + k] = (byte | more).astype(np.uint8)
    return out, n


def _zigzag(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.int64)
    return ((d << 1) ^ (d >> 63)).astype(np.uint64)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Item-wise concatenation: item i of the result is item i of each part, in order.

    Each part is (flat bytes, length per item), its items stored one after another.
    """
    lengths = np.stack([np.asarray(n, dtype=np.int64) for _, n in parts])
    total = lengths.sum(axis=0)
    out = np.empty(int(total.sum()), dtype=np.uint8)
    start = np.cumsum(total) - total
    for data, n in parts:
        n = np.asarray(n, dtype=np.int64)
        src = np.cumsum(n) - n
        out[np.repeat(start - src, n) + np.arange(len(data))] = data
        start = start + n
    return out, total


def _take(data: np.ndarray, lengths: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte segments of ``items`` (with repeats) from a flat array of per-item segments."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    n = lengths[items]
    first = np.cumsum(n) - n
    idx = np.repeat(starts[items] - first, n) + np.arange(int(n.sum()))
    return data[idx], n


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every index of the ranges [start, start + length)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lengths) - lengths), lengths) + np.arange(
        int(lengths.sum()))


def _const(value: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, value, dtype=np.uint8), np.ones(n, dtype=np.int64)


# --- geometry -------------------------------------------------------------------------------------------------
class _Rings:
    """The polygon rings of a layer in EPSG:4326: coordinates with the ring, part and feature of each."""

    def __init__(self, geoms: np.ndarray):
        parts, part_feature = shapely.get_parts(geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        # the closing coordinate repeats the first: leave it out (ClosePath draws that edge)
        last = np.r_[coord_ring[1:] != coord_ring[:-1], True]
        self.lon, self.lat = coords[~last, 0], coords[~last, 1]
        self.ring = coord_ring[~last]
        self.ring_part = ring_part
        self.ring_feature = part_feature[ring_part]
        self.exterior = np.r_[True, ring_part[1:] != ring_part[:-1]]


def _segment_first(keys: np.ndarray) -> np.ndarray:
    """True where a run of equal ``keys`` starts."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)


def _clean_rings(rings: _Rings, qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coordinate order to write, ring of each written coordinate): repeats dropped, degenerate rings
    dropped (with the holes of a dropped exterior), rings wound as the spec asks."""
    ring = rings.ring
    # 1. repeated points on the grid (consecutive within a ring), and a last point equal to the first
    keep = _segment_first(ring) | (qx != np.r_[0, qx[:-1]]) | (qy != np.r_[0, qy[:-1]])
    idx = np.flatnonzero(keep)
    r = ring[idx]
    first = _segment_first(r)
    is_last = np.r_[first[1:], True]
    head = np.maximum.accumulate(np.where(first, np.arange(len(idx)), 0))
    closes = is_last & ~first & (qx[idx] == qx[idx[head]]) & (qy[idx] == qy[idx[head]])
    idx = idx[~closes]
    r = ring[idx]
    n_rings = len(rings.ring_part)
    count = np.bincount(r, minlength=n_rings)
    # 2. twice the surveyor's area per ring, in grid units (y down: exterior rings must be positive)
    first = _segment_first(r)
    start = np.flatnonzero(first)
    nxt = np.arange(1, len(idx) + 1)
    ends = np.r_[start[1:], len(idx)] - 1
    nxt[ends] = start
    x, y = qx[idx] - qx[idx[start]][np.cumsum(first) - 1], qy[idx] - qy[idx[start]][np.cumsum(first) - 1]
    cross = x * y[nxt] - x[nxt] * y  # relative to the ring's first point: small, exact in int64
    area2 = np.zeros(n_rings, dtype=np.int64)
    if len(idx):
        area2[r[start]] = np.add.reduceat(cross, start)
    ok = (count >= 3) & (area2 != 0)
    # a polygon whose exterior ring is dropped is dropped whole
    ext_ok = np.zeros(int(rings.ring_part.max(initial=-1)) + 1, dtype=bool)
    ext_ok[rings.ring_part[rings.exterior]] = ok[rings.exterior]
    ok &= ext_ok[rings.ring_part]
    # 3. winding: reverse rings whose sign is wrong
    flip = np.where(rings.exterior, area2 < 0, area2 > 0)
    sel = ok[r]
    idx, r = idx[sel], r[sel]
    if len(idx):
        first = _segment_first(r)
        start_of = np.maximum.accumulate(np.where(first, np.arange(len(idx)), 0))
        end_of = np.r_[np.flatnonzero(first)[1:], len(idx)] - 1
        end_of = end_of[np.cumsum(first) - 1]
        pos = np.arange(len(idx))
        pos = np.where(flip[r], start_of + end_of - pos, pos)
        idx = idx[pos]
    return idx, r


def _polygon_streams(rings: _Rings, qx: np.ndarray, qy: np.ndarray, n_features: int):
    """Per feature: its first point on the grid, and the bytes of its command stream after the first MoveTo.

    Returns ``(has_rings, fx, fy, body_bytes, body_lengths)`` (arrays over all features).
    """
    idx, r = _clean_rings(rings, qx, qy)
    feature = rings.ring_feature[r]
    x, y = qx[idx], qy[idx]
    n = len(idx)
    first_of_ring = _segment_first(r)
    first_of_feature = _segment_first(feature)
    has_rings = np.zeros(n_features, dtype=bool)
    has_rings[feature[first_of_feature]] = True
    fx = np.zeros(n_features, dtype=np.int64)
    fy = np.zeros(n_features, dtype=np.int64)
    fx[feature[first_of_feature]] = x[first_of_feature]
    fy[feature[first_of_feature]] = y[first_of_feature]
    # integer stream per ring k of c points: MoveTo(1) dx dy  LineTo(c-1) 2(c-1) params  ClosePath = 2c + 3 ints
    ring_ids, ring_start_coord = np.unique(r, return_index=True)
    c = np.diff(np.r_[ring_start_coord, n])
    ring_len = 2 * c + 3
    ring_off = np.cumsum(ring_len) - ring_len
    ints = np.empty(int(ring_len.sum()), dtype=np.uint64)
    ints[ring_off] = _MOVE_TO_1
    ints[ring_off + 3] = (2 | ((c - 1) << 3)).astype(np.uint64)
    ints[ring_off + ring_len - 1] = _CLOSE
    dx = np.diff(np.r_[0, x])
    dy = np.diff(np.r_[0, y])
    local = np.arange(n) - ring_start_coord[np.cumsum(first_of_ring) - 1]
    base = ring_off[np.cumsum(first_of_ring) - 1]
    pos = np.where(local == 0, base + 1, base + 4 + 2 * (local - 1))
    ints[pos] = _zigzag(dx)
    ints[pos + 1] = _zigzag(dy)
    data, nbytes = _varints(ints)
    # a feature's body: its bytes after the first ring's MoveTo and two parameters (those depend on the tile)
    byte_start = np.cumsum(nbytes) - nbytes
    ring_feature = rings.ring_feature[ring_ids]
    body_len = np.bincount(np.repeat(ring_feature, ring_len), weights=nbytes, minlength=n_features).astype(np.int64)
    head_int = ring_off[_segment_first(ring_feature)]
    head_len = byte_start[head_int + 2] + nbytes[head_int + 2] - byte_start[head_int]
    body_len[ring_feature[_segment_first(ring_feature)]] -= head_len
    keep = np.ones(len(data), dtype=bool)
    keep[_ranges(byte_start[head_int], head_len)] = False
    return has_rings, fx, fy, data[keep], body_len


# --- tiles ---------------------------------------------------------------------------------------------------
def group_layer_name(layer: str, group: str | None) -> str:
    """The MVT layer of one group: ``layer`` itself without groups, else ``<layer>/<group>``."""
    return layer if group is None else f"{layer}/{group}"


def encode_tiles(geoms: np.ndarray, *, zooms: Iterable[int], layer: str, groups: np.ndarray | None = None,
                 points: np.ndarray | None = None, extent: int = EXTENT, tiny_px: float = TINY_PX,
                 compress: bool = True) -> Iterator[tuple[int, int, int, bytes]]:
    """Vector tiles ``(z, x, y, bytes)`` (XYZ scheme) holding every feature of ``geoms`` at each zoom.

    Parameters
    ----------
    geoms : array of shapely geometries
        Polygons, MultiPolygons or Points in EPSG:4326 (lon, lat), none empty.  Feature ids are
        positions in this array (order them with :func:`spatial_order` for compact tiles).
    zooms : iterable of int
        The zoom levels to tile.
    layer : str
        MVT layer name (with ``groups``: the prefix of each group's layer).
    groups : array of str, optional
        A group per feature; each group's features go into layer ``<layer>/<group>``.
    points : array of shapely Points, optional
        Where a polygon too small to draw at a zoom is written as a point (default: its
        ``point_on_surface``).
    extent : int
        Grid units per tile side.
    tiny_px : float
        Polygons under this many pixels (at 256 px per tile) in width *and* height become points.
    compress : bool
        gzip each tile (how MBTiles stores vector tiles, and what a browser accepts as
        ``Content-Encoding: gzip``).
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if n == 0:
        return
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (0, 3, 6)).all() or shapely.is_empty(geoms).any():
        raise ValueError("encode_tiles takes non-empty Points, Polygons and MultiPolygons only")
    polygonal = kinds != 0
    if points is None:
        points = np.where(polygonal, shapely.point_on_surface(geoms), geoms)
    plon, plat = shapely.get_x(points), shapely.get_y(points)
    rings = _Rings(geoms[polygonal] if not polygonal.all() else geoms) if polygonal.any() else None
    poly_pos = np.flatnonzero(polygonal)
    if rings is not None:
        bounds = shapely.bounds(geoms)
    if groups is None:
        group_codes = np.zeros(n, dtype=np.int64)
        group_names: list[str | None] = [None]   # one layer, named by ``layer`` alone
    else:
        uniq, group_codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        group_names = [str(g) for g in uniq]
    layer_heads = [_layer_head(group_layer_name(layer, g)) for g in group_names]
    tail = bytes([_LAYER_EXTENT]) + _varint_bytes(extent)
    for z in zooms:
        yield from _zoom_tiles(int(z), geoms=geoms, polygonal=polygonal, poly_pos=poly_pos, rings=rings,
                               bounds=bounds if rings is not None else None, plon=plon, plat=plat,
                               group_codes=group_codes, layer_heads=layer_heads, tail=tail, extent=extent,
                               tiny_px=tiny_px, compress=compress)


def _layer_head(name: str) -> bytes:
    raw = name.encode("utf-8")
    return bytes([_LAYER_VERSION, 2, _LAYER_NAME]) + _varint_bytes(len(raw)) + raw


def _zoom_tiles(z: int, *, geoms, polygonal, poly_pos, rings, bounds, plon, plat, group_codes, layer_heads, tail,
                extent, tiny_px, compress) -> Iterator[tuple[int, int, int, bytes]]:
    n = len(geoms)
    px, py = lonlat_to_world(plon, plat, z, extent)
    px, py = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    as_polygon = np.zeros(n, dtype=bool)
    fx, fy = px.copy(), py.copy()
    body = np.zeros(0, dtype=np.uint8)
    body_len = np.zeros(n, dtype=np.int64)
    tx0, ty0 = px // extent, py // extent
    tx1, ty1 = tx0.copy(), ty0.copy()
    if rings is not None:
        bx0, by1 = lonlat_to_world(bounds[:, 0], bounds[:, 1], z, extent)
        bx1, by0 = lonlat_to_world(bounds[:, 2], bounds[:, 3], z, extent)
        big = polygonal & ((bx1 - bx0 >= tiny_px * extent / _TILE_PX) | (by1 - by0 >= tiny_px * extent / _TILE_PX))
        qx, qy = lonlat_to_world(rings.lon, rings.lat, z, extent)
        qx, qy = np.round(qx).astype(np.int64), np.round(qy).astype(np.int64)
        has, ffx, ffy, pbody, plen = _polygon_streams(rings, qx, qy, len(poly_pos))
        ok = np.zeros(n, dtype=bool)
        ok[poly_pos] = has
        as_polygon = big & ok
        sel = as_polygon[poly_pos]
        fx[poly_pos[sel]], fy[poly_pos[sel]] = ffx[sel], ffy[sel]
        # bodies of the features written as polygons, in feature order
        body, kept_len = _take(pbody, plen, np.flatnonzero(sel))
        body_len[poly_pos[sel]] = kept_len
        tx0 = np.where(as_polygon, np.floor(bx0 / extent), tx0).astype(np.int64)
        tx1 = np.where(as_polygon, np.floor(bx1 / extent), tx1).astype(np.int64)
        ty0 = np.where(as_polygon, np.floor(by0 / extent), ty0).astype(np.int64)
        ty1 = np.where(as_polygon, np.floor(by1 / extent), ty1).astype(np.int64)
    side = 2 ** z
    tx0, tx1 = np.clip(tx0, 0, side - 1), np.clip(tx1, 0, side - 1)
    ty0, ty1 = np.clip(ty0, 0, side - 1), np.clip(ty1, 0, side - 1)
    # (feature, tile) pairs: one per tile a feature's box touches
    nx, ny = tx1 - tx0 + 1, ty1 - ty0 + 1
    per = nx * ny
    feat = np.repeat(np.arange(n), per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    tx = tx0[feat] + k % nx[feat]
    ty = ty0[feat] + k // nx[feat]
    order = np.lexsort((feat, group_codes[feat], ty, tx))
    feat, tx, ty = feat[order], tx[order], ty[order]
    blobs, blob_len = _features(feat, tx, ty, as_polygon, fx, fy, body, body_len, extent)
    # tiles: runs of equal (tx, ty); layers: runs of equal group inside a tile
    tile_start = np.flatnonzero(_segment_first(tx * side + ty))
    layer_start = np.flatnonzero(_segment_first((tx * side + ty) * (len(layer_heads) + 1) + group_codes[feat]))
    byte_off = np.r_[0, np.cumsum(blob_len)]
    flat = blobs.tobytes()
    bounds_of_tiles = np.r_[tile_start, len(feat)]
    layer_iter = 0
    for t in range(len(tile_start)):
        a, b = bounds_of_tiles[t], bounds_of_tiles[t + 1]
        parts = []
        while layer_iter < len(layer_start) and layer_start[layer_iter] < b:
            la = layer_start[layer_iter]
            lb = layer_start[layer_iter + 1] if layer_iter + 1 < len(layer_start) else len(feat)
            lb = min(lb, b)
            msg = layer_heads[group_codes[feat[la]]] + flat[byte_off[la]:byte_off[lb]] + tail
            parts.append(bytes([_TILE_LAYERS]) + _varint_bytes(len(msg)) + msg)
            layer_iter += 1
        data = b"".join(parts)
        yield z, int(tx[a]), int(ty[a]), gzip.compress(data, compresslevel=6, mtime=0) if compress else data


def _features(feat, tx, ty, as_polygon, fx, fy, body, body_len, extent) -> tuple[np.ndarray, np.ndarray]:
    """The ``features`` entries (key, length, Feature message) of every (feature, tile) pair, in pair order."""
    m = len(feat)
    head_ints = np.empty(3 * m, dtype=np.uint64)
    head_ints[0::3] = _MOVE_TO_1
    head_ints[1::3] = _zigzag(fx[feat] - tx * extent)
    head_ints[2::3] = _zigzag(fy[feat] - ty * extent)
    head, head_n = _varints(head_ints)
    head_len = head_n.reshape(m, 3).sum(axis=1)
    pair_body, pair_body_len = _take(body, body_len, feat)
    geom, geom_len = _concat([(head, head_len), (pair_body, pair_body_len)])
    ids, ids_len = _varints(feat.astype(np.uint64))
    glen, glen_len = _varints(geom_len.astype(np.uint64))
    gtype = np.where(as_polygon[feat], _POLYGON, _POINT).astype(np.uint8)
    msg, msg_len = _concat([_const(_FEAT_ID, m), (ids, ids_len), _const(_FEAT_TYPE, m), (gtype, np.ones(m, np.int64)),
                            _const(_FEAT_GEOM, m), (glen, glen_len), (geom, geom_len)])
    mlen, mlen_len = _varints(msg_len.astype(np.uint64))
    return _concat([_const(_LAYER_FEATURES, m), (mlen, mlen_len), (msg, msg_len)])


# --- reading the layer structure (what a server needs to hand out part of a tile) --------------------------------
def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def _layers(raw: bytes) -> Iterator[tuple[str, int, int]]:
    """(name, start, end) of each Layer entry (key and length included) of an uncompressed tile."""
    i = 0
    while i < len(raw):
        key, j = _read_varint(raw, i)
        if key & 7 != 2:
            raise ValueError(f"unexpected wire type {key & 7} at byte {i} of a vector tile")
        length, k = _read_varint(raw, j)
        end = k + length
        name = ""
        if key == _TILE_LAYERS:
            p = k
            while p < end:
                fkey, q = _read_varint(raw, p)
                wt = fkey & 7
                if fkey == _LAYER_NAME:
                    ln, q = _read_varint(raw, q)
                    name = raw[q:q + ln].decode("utf-8")
                    break
                if wt == 0:
                    _, p = _read_varint(raw, q)
                elif wt == 2:
                    ln, q = _read_varint(raw, q)
                    p = q + ln
                else:
                    raise ValueError(f"unexpected wire type {wt} in a vector tile layer")
        yield name, i, end
        i = end


def _raw(tile: bytes) -> bytes:
    return gzip.decompress(tile) if tile[:2] == b"\x1f\x8b" else tile


def layer_names(tile: bytes) -> list[str]:
    """Names of the layers in a tile (gzip-compressed or not)."""
    return [name for name, _, _ in _layers(_raw(tile))]


def keep_layers(tile: bytes, keep: Callable[[str], bool], *, compress: bool = True) -> bytes:
    """The tile with only the layers whose name ``keep`` accepts (whole layers: no feature is decoded);
    ``b""`` when none is kept, compressed or not (the tile server answers that with "nothing there")."""
    raw = _raw(tile)
    out = b"".join(raw[a:b] for name, a, b in _layers(raw) if keep(name))
    return gzip.compress(out, compresslevel=6, mtime=0) if compress and out else out
