"""Codes planners meet in their data: GB/T 4754-2017 industries, GB 32100-2015 credit codes.

Facts from ``DOMAIN.md`` §2: industrial scope for 亩均 evaluation is 2-digit 06–46,
manufacturing 13–43; the policy-named polluting industries (电镀, 印染, 熔炼/铸造, 化工,
再生塑料) by their GB/T 4754-2017 codes, plus the 2002-edition code 3460 (电镀 in old lists).

Industry matching is **GB/T 4754 prefix matching**, the hierarchy of the standard itself: a
code given with 2 digits is a division (大类, "36" covers every 36xx firm), 3 digits a group
(中类), 4 digits a class (小类, "3670" covers only 3670).  :func:`matches_prefix` and
:func:`prefix_matrix` are that one rule; every analysis that asks "is this firm of that
industry" (leading industries of parks, polluting lists) goes through them.  Lists of codes in
one cell ("36,34", "36、34", "36；34", "36 34", "C36/C34") are read by :func:`parse_code_list`,
the one parser, and checked on import by :func:`invalid_code_lists`.

Industry names: GB/T 4754-2017《国民经济行业分类》(National Bureau of Statistics and
SAC, 2017, with amendment No. 1 of 2019).  :data:`DIVISIONS_ZH` holds every division
(大类) of the 亩均 scope 06–46 plus the logistics divisions 58–59; :data:`CLASSES_ZH`
holds the classes (小类, 4 digits) and groups (中类, 3 digits) that occur in the Ruian
sample and in the policy's polluting-industry list, each checked against the published
table.  :func:`industry_title` names any code by its longest known prefix (class, then
group, then division), so a class missing from :data:`CLASSES_ZH` still reads as its
division.  English division titles (:data:`DIVISIONS_EN`) are short translations of ours,
not an official text.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DIVISIONS_ZH",
    "DIVISIONS_EN",
    "POLLUTING_PREFIXES",
    "POLLUTING_GROUPS_ZH",
    "CODE_LIST_SEPARATORS",
    "is_industrial",
    "is_polluting",
    "parse_code_list",
    "invalid_code_lists",
    "matches_prefix",
    "prefix_matrix",
    "prefix_pairs",
    "industry_division",
    "industry_name",
    "CLASSES_ZH",
    "DIVISIONS_EN",
    "industry_title",
    "CREDIT_CODE_CHARSET",
    "credit_code_check_char",
    "is_valid_credit_code",
]

# GB/T 4754-2017 divisions (2-digit) within the industrial scope, with short Chinese names.
DIVISIONS_ZH = {
    "06": "煤炭开采和洗选业", "07": "石油和天然气开采业", "08": "黑色金属矿采选业", "09": "有色金属矿采选业",
    "10": "非金属矿采选业", "11": "开采专业及辅助性活动", "12": "其他采矿业",
    "13": "农副食品加工业", "14": "食品制造业", "15": "酒、饮料和精制茶制造业", "16": "烟草制品业",
    "17": "纺织业", "18": "纺织服装、服饰业", "19": "皮革、毛皮、羽毛及其制品和制鞋业",
    "20": "木材加工和木、竹、藤、棕、草制品业", "21": "家具制造业", "22": "造纸和纸制品业",
    "23": "印刷和记录媒介复制业", "24": "文教、工美、体育和娱乐用品制造业",
    "25": "石油、煤炭及其他燃料加工业", "26": "化学原料和化学制品制造业", "27": "医药制造业",
    "28": "化学纤维制造业", "29": "橡胶和塑料制品业", "30": "非金属矿物制品业",
    "31": "黑色金属冶炼和压延加工业", "32": "有色金属冶炼和压延加工业", "33": "金属制品业",
    "34": "通用设备制造业", "35": "专用设备制造业", "36": "汽车制造业",
    "37": "铁路、船舶、航空航天和其他运输设备制造业", "38": "电气机械和器材制造业",
    "39": "计算机、通信和其他电子设备制造业", "40": "仪器仪表制造业", "41": "其他制造业",
    "42": "废弃资源综合利用业", "43": "金属制品、机械和设备修理业",
    "44": "电力、热力生产和供应业", "45": "燃气生产和供应业", "46": "水的生产和供应业",
    # Outside the 亩均 scope but present in parks (logistics).
    "58": "多式联运和运输代理业", "59": "装卸搬运和仓储业",
}

# GB/T 4754-2017 classes (4 digits) and groups (3 digits) of the sample and the policy lists.
# "1310" and "5820" are group-level codes written with a trailing 0 (2011-style): they
# resolve to their groups 131 and 582.
CLASSES_ZH = {
    "131": "谷物磨制", "1371": "蔬菜加工", "1391": "淀粉及淀粉制品制造",
    "1713": "棉印染精加工", "1723": "毛染整精加工", "1733": "麻染整精加工", "1743": "丝印染精加工",
    "1752": "化纤织物染整精加工", "1762": "针织或钩针编织物印染精加工",
    "1951": "纺织面料鞋制造", "1952": "皮鞋制造", "2021": "胶合板制造", "2231": "纸和纸板容器制造",
    "2319": "包装装潢及其他印刷", "2614": "有机化学原料制造", "2922": "塑料板、管、型材制造",
    "2927": "日用塑料制品制造", "3130": "钢压延加工", "3311": "金属结构制造",
    "3360": "金属表面处理及热处理加工", "3391": "黑色金属铸造", "3392": "有色金属铸造",
    "3393": "锻件及粉末冶金制品制造", "3443": "阀门和旋塞制造", "3484": "机械零部件加工",
    "3489": "其他通用零部件制造", "3542": "印刷专用设备制造", "3660": "汽车车身、挂车制造",
    "3670": "汽车零部件及配件制造", "3752": "摩托车零部件及配件制造", "3812": "电动机制造",
    "3823": "配电开关控制设备制造", "3891": "电气信号设备装置制造", "3984": "电声器件及零件制造",
    "3989": "其他电子元件制造", "4028": "电子测量仪器制造", "4220": "非金属废料和碎屑加工处理",
    "582": "运输代理业", "5920": "通用仓储",
}

# The same divisions in English (short forms of the ISIC Rev.4 titles GB/T 4754-2017 corresponds to).
DIVISIONS_EN = {
    "06": "Coal mining", "07": "Oil and gas extraction", "08": "Ferrous metal ore mining",
    "09": "Non-ferrous metal ore mining", "10": "Non-metallic mineral mining", "11": "Mining support services",
    "12": "Other mining", "13": "Agricultural products processing", "14": "Food manufacturing",
    "15": "Beverages and refined tea", "16": "Tobacco products", "17": "Textiles", "18": "Apparel and clothing",
    "19": "Leather, fur, feathers and footwear", "20": "Wood, bamboo, rattan, palm and straw products",
    "21": "Furniture", "22": "Paper and paper products", "23": "Printing and recording media",
    "24": "Articles for culture, education, crafts, sports and entertainment",
    "25": "Petroleum, coal and other fuel processing", "26": "Chemical raw materials and products",
    "27": "Pharmaceuticals", "28": "Chemical fibres", "29": "Rubber and plastic products",
    "30": "Non-metallic mineral products", "31": "Ferrous metal smelting and rolling",
    "32": "Non-ferrous metal smelting and rolling", "33": "Fabricated metal products", "34": "General-purpose machinery",
    "35": "Special-purpose machinery", "36": "Motor vehicles", "37": "Railway, ship, aerospace and other transport equipment",
    "38": "Electrical machinery and equipment", "39": "Computers, communication and other electronic equipment",
    "40": "Instruments and meters", "41": "Other manufacturing", "42": "Waste resources recycling",
    "43": "Repair of metal products, machinery and equipment", "44": "Electricity and heat supply",
    "45": "Gas supply", "46": "Water supply", "58": "Multimodal transport and freight agency",
    "59": "Loading, unloading and warehousing",
}

# Prefixes of GB/T 4754-2017 codes named as polluting by the policy (DOMAIN.md §2).  The one list:
# low-efficiency presets and siting default to it.  3460 is the 2002 edition's 电镀 code (金属表面处理
#及热处理加工), still found in old lists; GB/T 4754-2017 has no 4-digit code 3460 (346x are 3461–3467),
# so the prefix matches only a firm still coded in the old edition.
POLLUTING_GROUPS_ZH = {
    "电镀": ("3360", "3460"),
    "印染": ("1713", "1723", "1733", "1743", "1752", "1762"),
    "熔炼/铸造": ("31", "32", "3391", "3392", "3393"),
    "化工": ("26",),
    "再生塑料": ("4220",),
}
POLLUTING_PREFIXES: tuple[str, ...] = tuple(p for group in POLLUTING_GROUPS_ZH.values() for p in group)


def _codes(codes) -> pd.Series:
    return pd.Series(codes, dtype="string").str.strip()


def industry_division(codes) -> pd.Series:
    """The 2-digit division of GB/T 4754 codes ('3670' → '36'); missing stays missing."""
    return _codes(codes).str[:2]


def is_industrial(codes) -> pd.Series:
    """True where the code's division is within the 亩均 industrial scope (06–46)."""
    div = pd.to_numeric(industry_division(codes), errors="coerce").to_numpy(dtype=float)
    return pd.Series((div >= 6) & (div <= 46), index=_codes(codes).index)


def is_polluting(codes, prefixes: tuple[str, ...] | list[str] = POLLUTING_PREFIXES) -> pd.Series:
    """True where the code starts with a policy-named polluting prefix (电镀, 印染, 熔炼, 化工, 再生塑料)."""
    s = _codes(codes)
    return pd.Series(matches_prefix(s, prefixes), index=s.index)


# Separators planners use between codes in one cell: , ， 、 ; ； / and any white space.
CODE_LIST_SEPARATORS = r"[,，、;；/\s]+"
_CODE_TOKEN = r"(?:[A-Ta-t])?\d{2,4}"   # optional 门类 letter (C36 = 36), then 2–4 digits


def parse_code_list(values) -> list[tuple[str, ...]]:
    """Each cell's GB/T 4754 codes as a tuple, in order, without duplicates.

    Every separator of :data:`CODE_LIST_SEPARATORS` splits; a leading 门类 letter is dropped
    ("C36" → "36"); empty or missing cells give ``()``.  Tokens that are not codes are kept
    as written (so :func:`matches_prefix` never matches them) — :func:`invalid_code_lists`
    reports them on import.

    >>> parse_code_list(["36,34", "36、34", "C36；34 ", None, "36 / 36"])
    [('36', '34'), ('36', '34'), ('36', '34'), (), ('36',)]
    """
    s = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), dtype="string")
    parts = s.fillna("").str.strip().str.split(CODE_LIST_SEPARATORS, regex=True).explode()
    parts = parts[parts.fillna("").str.len() > 0]
    parts = parts.where(~parts.str.fullmatch(_CODE_TOKEN).fillna(False), parts.str.lstrip("ABCDEFGHIJKLMNOPQRSTabcdefghijklmnopqrst"))
    parts = parts.groupby(level=0, sort=False).agg(lambda v: tuple(dict.fromkeys(v)))
    return [tuple(parts.get(i, ())) for i in range(len(s))]


def invalid_code_lists(values) -> pd.Series:
    """Per cell, the tokens that are not GB/T 4754 codes (2–4 digits, optional 门类 letter), joined by
    "、"; NA where the cell is fine or empty.  The import check of leading-industry fields."""
    s = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), dtype="string")
    parts = s.fillna("").str.strip().str.split(CODE_LIST_SEPARATORS, regex=True).explode()
    parts = parts[parts.fillna("").str.len() > 0]
    bad = parts[~parts.str.fullmatch(_CODE_TOKEN).fillna(False)]
    out = bad.groupby(level=0, sort=False).agg("、".join)
    return pd.Series(out.reindex(range(len(s))).to_numpy(), index=s.index if isinstance(values, pd.Series) else None,
                     dtype="string")


def matches_prefix(codes, prefixes) -> np.ndarray:
    """True where a firm's code starts with any of ``prefixes`` (GB/T 4754 prefix rule, see the module)."""
    return prefix_matrix(codes, [tuple(prefixes)])[:, 0] if len(prefixes) else np.zeros(len(_codes(codes)), bool)


def prefix_matrix(codes, code_sets: list[tuple[str, ...]]) -> np.ndarray:
    """(len(codes), len(code_sets)) bool: firm *i*'s code starts with one of the codes of set *j*.

    Vectorised per distinct prefix (a few dozen), combined by an incidence-matrix product.
    """
    firm_u, set_u = _prefix_incidence(codes, code_sets)
    return (firm_u.astype(np.int32) @ set_u.T.astype(np.int32)) > 0


def prefix_pairs(codes, code_sets: list[tuple[str, ...]], rows: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """``prefix_matrix(codes, code_sets)[rows, sets]`` without building the matrix: for each pair,
    whether code ``rows[k]`` starts with one of the codes of set ``sets[k]`` (memory by pairs, not
    by codes × sets — 800k firms × 300 parks would be a 240 MB matrix to read a million cells)."""
    rows, sets = np.asarray(rows, dtype=np.int64), np.asarray(sets, dtype=np.int64)
    firm_u, set_u = _prefix_incidence(codes, code_sets)
    if firm_u.shape[1] == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    return (firm_u[rows] & set_u[sets]).any(axis=1)


def _prefix_incidence(codes, code_sets: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """(codes × distinct prefixes, sets × distinct prefixes) bool incidence matrices."""
    s = _codes(codes).fillna("")
    universe = sorted({c for codes_ in code_sets for c in codes_})
    if not universe or not len(s):
        return np.zeros((len(s), 0), dtype=bool), np.zeros((len(code_sets), 0), dtype=bool)
    firm_u = np.column_stack([s.str.startswith(p).to_numpy(dtype=bool) for p in universe])
    pos = {c: k for k, c in enumerate(universe)}
    rows = np.repeat(np.arange(len(code_sets)), [len(c) for c in code_sets])
    cols = np.array([pos[c] for codes_ in code_sets for c in codes_], dtype=np.int64)
    set_u = np.zeros((len(code_sets), len(universe)), dtype=bool)
    set_u[rows, cols] = True
    return firm_u, set_u


def industry_name(codes, lang: str = "zh") -> pd.Series:
    """Division name of each code (by its first two digits), Chinese by default or ``lang="en"``."""
    return industry_division(codes).map(DIVISIONS_EN if lang == "en" else DIVISIONS_ZH)


def industry_title(code, lang: str = "zh") -> str | None:
    """The GB/T 4754 title of one industry code by its longest known prefix, or None.

    Chinese: the class (4 digits) or group (3 digits) title when :data:`CLASSES_ZH` has it,
    else the division's.  English: the division's short title.

    >>> industry_title("3670"), industry_title("3675"), industry_title("3670", "en")
    ('汽车零部件及配件制造', '汽车制造业', 'Motor vehicles')
    """
    text = "" if code is None or (not isinstance(code, str) and pd.isna(code)) else str(code).strip()
    if len(text) < 2:
        return None
    if lang == "en":
        return DIVISIONS_EN.get(text[:2])
    for n in (4, 3):
        if len(text) >= n and text[:n] in CLASSES_ZH:
            return CLASSES_ZH[text[:n]]
    return DIVISIONS_ZH.get(text[:2])


# GB 32100-2015: 31 characters (no I, O, S, V, Z); weights 3^i mod 31.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)])
_CHAR_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}


def _char_values(codes: pd.Series, width: int) -> np.ndarray:
    """Matrix (n, width) of charset values; -1 for characters outside the charset."""
    padded = codes.fillna("").str.upper().str.pad(width, side="right", fillchar="?").str[:width]
    flat = np.frombuffer("".join(padded).encode("ascii", "replace"), dtype=np.uint8).reshape(len(codes), width)
    lut = np.full(256, -1, dtype=np.int64)
    for ch, val in _CHAR_VALUE.items():
        lut[ord(ch)] = val
    return lut[flat]


def credit_code_check_char(first17) -> pd.Series:
    """GB 32100-2015 check character for the first 17 characters of credit codes.

    C18 = 31 − (Σ Ci × Wi mod 31), Wi = 3^(i) mod 31; 31 maps to '0'.
    """
    s = _codes(first17)
    vals = _char_values(s, 17)
    total = (vals * _CREDIT_WEIGHTS).sum(axis=1)
    check = (31 - total % 31) % 31
    out = pd.Series([CREDIT_CODE_CHARSET[c] for c in check], index=s.index, dtype="string")
    out[(vals < 0).any(axis=1) | (s.str.len() != 17).fillna(True).to_numpy(dtype=bool)] = pd.NA
    return out


def is_valid_credit_code(codes) -> pd.Series:
    """True where a code is 18 characters of the GB 32100 charset with the right check character."""
    s = _codes(codes).str.upper()
    ok_len = (s.str.len() == 18).fillna(False).to_numpy(dtype=bool)
    matches = (credit_code_check_char(s.str[:17]) == s.str[17]).fillna(False).to_numpy(dtype=bool)
    return pd.Series(ok_len & matches, index=s.index)
