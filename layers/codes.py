"""Codes planners meet in their data: GB/T 4754-2017 industries, GB 32100-2015 credit codes.

Facts from ``DOMAIN.md`` §2: industrial scope for 亩均 evaluation is 2-digit 06–46,
manufacturing 13–43; the policy-named polluting industries (电镀, 印染, 熔炼/铸造, 化工,
再生塑料) by their GB/T 4754-2017 codes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DIVISIONS_ZH",
    "DIVISIONS_EN",
    "POLLUTING_PREFIXES",
    "POLLUTING_GROUPS_ZH",
    "is_industrial",
    "is_polluting",
    "industry_division",
    "industry_name",
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

# Prefixes of GB/T 4754-2017 codes named as polluting by the policy (DOMAIN.md §2).
POLLUTING_GROUPS_ZH = {
    "电镀": ("3360",),
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


def is_polluting(codes) -> pd.Series:
    """True where the code starts with a policy-named polluting prefix (电镀, 印染, 熔炼, 化工, 再生塑料)."""
    s = _codes(codes).fillna("")
    out = np.zeros(len(s), dtype=bool)
    for prefix in POLLUTING_PREFIXES:
        out |= s.str.startswith(prefix).to_numpy(dtype=bool)
    return pd.Series(out, index=s.index)


def industry_name(codes, lang: str = "zh") -> pd.Series:
    """Division name of each code (by its first two digits), Chinese by default or ``lang="en"``."""
    return industry_division(codes).map(DIVISIONS_EN if lang == "en" else DIVISIONS_ZH)


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
