"""Field catalogues of the files planners receive: national land databases and department tables.

Each entry names a source column (a standard's field code such as ``TBMJ``, or a header that
departments write, such as ``年均职工人数``), its Chinese name, the layer field it fills (or
``None``: recognised, but the planner's layers have no such field), the unit of its values
when the header states none, a rank (0 = the planner's own words, 1 = a standard's code,
2 = a looser match used only when nothing better is in the file), the source, and whether
the entry was checked against that source.

Sources (DOMAIN.md §7):

- **DLTB 地类图斑** — 第三次全国国土调查技术规程 TD/T 1055-2019 and 国土调查数据库标准
  TD/T 1057-2020.  Field codes and names as in DOMAIN.md §7; the same codes and names appear
  in the public field lists of several 三调 data tools (checked: BSM, YSDM, TBYBH, TBBH, DLBM,
  DLMC, QSXZ, QSDWDM, QSDWMC, ZLDWDM, ZLDWMC, TBMJ, KCDLBM, KCXS, KCMJ, TBDLMJ, GDLX, GDPDJB,
  XXTBKD, TBXHDM, TBXHMC, ZZSXDM, ZZSXMC, GDDB, FRDBS, CZCSXM, SJNF, BZ).  Areas in m².
  ``ZLDWDM``: the 行政区代码 of land databases extends GB/T 2260's 6-digit county code by a
  3-digit township code and a 3-digit village code (土地利用数据库标准 TD/T 1016-2007, note
  to the 行政区 table), so its first 9 digits are the township code; 三调 pads it to 19
  characters (*length unverified*; only the first 9 are used).
- **ZD 宗地** — 不动产登记数据库标准 (原国土资源部 2015, 试行; TD/T 1066-2021), table ZDJBXX
  宗地基本信息: BSM, YSDM, ZDDM, BDCDYH, ZDTZM, ZL, ZDMJ, MJDW, YT, DJ, JG, QLLX, QLXZ,
  QLSDFS, RJL, JZMD, JZXG, ZDSZD/N/X/B, TFH, DJH, DAH, BZ, ZT (checked against a published
  schema of that table).  Provinces add fields; ``ZDMJ`` is in the unit named by ``MJDW``
  (its code values are *unverified*: ZDMJ is read as m² and MJDW is reported, not applied).
  ``QLR`` (权利人) is a name, not a credit code: not mapped to the land holder.
- **Department tables** — the headers county tax, power, environment and statistics offices
  use in their yearly 亩均 data (DOMAIN.md §3, §6).  Not a standard: *unverified* as a list;
  the statistics names follow the indicator names of 国家统计局's enterprise reporting
  (从业人员平均人数, 营业收入, 工业增加值, 综合能源消费量, 研究与试验发展(R&D)经费支出).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Entry", "SOURCES", "CATALOGUES", "entries_for"]


@dataclass(frozen=True)
class Entry:
    """One recognised source column."""

    header: str  # the field code or header as written in files
    label_zh: str  # its Chinese name (also recognised as a header)
    field: str | None  # the layer field it fills; None = recognised, no such field
    unit: str | None = None  # unit of the values when the header gives none
    rank: int = 1  # lower wins when several columns fill one field
    source: str = ""  # key of SOURCES
    verified: bool = True  # False: plausible, not checked against the source's text
    take: int | None = None  # keep only the first N characters of the value
    note: str = ""  # why it is (not) mapped, for the preview


SOURCES: dict[str, str] = {
    "DLTB": "国土调查数据库标准 TD/T 1057-2020 / 第三次全国国土调查技术规程 TD/T 1055-2019,地类图斑 DLTB",
    "ZD": "不动产登记数据库标准(TD/T 1066-2021),宗地基本信息 ZDJBXX",
    "DEPT": "县级部门亩均数据常用表头(税务、供电、生态环境、统计),非标准",
    "STATS": "国家统计局企业统计报表指标名称",
}

_DLTB = (
    Entry("BSM", "标识码", "plot_id", rank=2, source="DLTB", note="the feature's unique number in the database"),
    Entry("YSDM", "要素代码", None, source="DLTB"),
    Entry("TBYBH", "图斑预编号", None, source="DLTB"),
    Entry("TBBH", "图斑编号", None, source="DLTB", note="unique only within one village: not a plot id"),
    Entry("DLBM", "地类编码", "land_use", source="DLTB"),
    Entry("DLMC", "地类名称", None, source="DLTB", note="the name of DLBM"),
    Entry("QSXZ", "权属性质", None, source="DLTB"),
    Entry("QSDWDM", "权属单位代码", None, source="DLTB", note="the owner (collective or state), not the land user"),
    Entry("QSDWMC", "权属单位名称", None, source="DLTB", note="the owner (collective or state), not the land user"),
    Entry("ZLDWDM", "座落单位代码", "township_code", source="DLTB", take=9, note="first 9 digits: the township"),
    Entry("ZLDWDM", "坐落单位代码", "township_code", source="DLTB", take=9, note="first 9 digits: the township"),
    Entry("ZLDWMC", "座落单位名称", None, source="DLTB"),
    Entry("ZLDWMC", "坐落单位名称", None, source="DLTB"),
    Entry("TBMJ", "图斑面积", "area_m2", "平方米", source="DLTB"),
    Entry("KCDLBM", "扣除地类编码", None, source="DLTB"),
    Entry("KCXS", "扣除地类系数", None, source="DLTB"),
    Entry("TKXS", "田坎系数", None, source="DLTB", verified=False),
    Entry("KCMJ", "扣除地类面积", None, "平方米", source="DLTB"),
    Entry("TKMJ", "田坎面积", None, "平方米", source="DLTB", verified=False),
    Entry("TBDLMJ", "图斑地类面积", "area_m2", "平方米", rank=2, source="DLTB",
          note="TBMJ less the deducted area; used when the file has no TBMJ"),
    Entry("GDLX", "耕地类型", None, source="DLTB"),
    Entry("GDPDJB", "耕地坡度级别", None, source="DLTB"),
    Entry("XXTBKD", "线性图斑宽度", None, source="DLTB"),
    Entry("TBXHDM", "图斑细化代码", None, source="DLTB"),
    Entry("TBXHMC", "图斑细化名称", None, source="DLTB"),
    Entry("ZZSXDM", "种植属性代码", None, source="DLTB"),
    Entry("ZZSXMC", "种植属性名称", None, source="DLTB"),
    Entry("GDDB", "耕地等别", None, source="DLTB"),
    Entry("FRDBS", "飞入地标识", None, source="DLTB"),
    Entry("CZCSXM", "城镇村属性码", None, source="DLTB"),
    Entry("SJNF", "数据年份", None, source="DLTB"),
    Entry("BZ", "备注", None, source="DLTB"),
    # A parcel number in land supply and redevelopment files; not a 三调 field.
    Entry("DKBH", "地块编号", "plot_id", rank=0, source="DLTB", verified=False),
)

_ZD = (
    Entry("ZDDM", "宗地代码", "plot_id", source="ZD"),
    Entry("BDCDYH", "不动产单元号", "plot_id", rank=2, source="ZD", note="ZDDM plus the building part"),
    Entry("ZDTZM", "宗地特征码", None, source="ZD"),
    Entry("ZL", "坐落", None, source="ZD"),
    Entry("ZDMJ", "宗地面积", "area_m2", "平方米", source="ZD", note="in the unit MJDW names (read as m²: check MJDW)"),
    Entry("MJDW", "面积单位", None, source="ZD", note="the unit of ZDMJ: check that it is m²"),
    Entry("YT", "用途", "land_use", source="ZD"),
    Entry("DJ", "等级", None, source="ZD"),
    Entry("JG", "价格", None, source="ZD"),
    Entry("QLLX", "权利类型", None, source="ZD"),
    Entry("QLXZ", "权利性质", None, source="ZD"),
    Entry("QLSDFS", "权利设定方式", None, source="ZD"),
    Entry("RJL", "容积率", "far", source="ZD"),
    Entry("JZMD", "建筑密度", "building_coverage", source="ZD"),
    Entry("JZXG", "建筑限高", None, source="ZD"),
    Entry("QLR", "权利人", None, source="ZD", note="a name; the land holder is kept as a credit code"),
    Entry("TFH", "图幅号", None, source="ZD"),
    Entry("DJH", "地籍号", None, source="ZD"),
    Entry("DAH", "档案号", None, source="ZD"),
    Entry("ZT", "状态", None, source="ZD", note="the record's registration state, not the plot's use"),
)

# Department headers: the planner's own words (rank 0) unless they are looser matches.
_DEPT = (
    # tax office (税务局)
    Entry("纳税人识别号", "纳税人识别号", "credit_code", source="DEPT", verified=False,
          note="for firms registered since 2015 the unified social credit code"),
    Entry("纳税人名称", "纳税人名称", "name", rank=0, source="DEPT", verified=False),
    Entry("实缴税金", "实缴税金", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("实缴税款", "实缴税款", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("入库税收", "入库税收", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("入库税金", "入库税金", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("税收合计", "税收合计", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("全年实缴税收", "全年实缴税收", "tax_10k", rank=0, source="DEPT", verified=False),
    Entry("税费合计", "税费合计", "tax_10k", rank=1, source="DEPT", verified=False),
    # power company (供电公司)
    Entry("户名", "户名", "name", rank=1, source="DEPT", verified=False),
    Entry("用电户名", "用电户名", "name", rank=0, source="DEPT", verified=False),
    Entry("户号", "户号", None, source="DEPT", verified=False, note="the electricity account, not the firm"),
    Entry("年用电量", "年用电量", "electricity_10k_kwh", rank=0, source="DEPT", verified=False),
    Entry("全年用电量", "全年用电量", "electricity_10k_kwh", rank=0, source="DEPT", verified=False),
    Entry("售电量", "售电量", "electricity_10k_kwh", rank=1, source="DEPT", verified=False),
    Entry("结算电量", "结算电量", "electricity_10k_kwh", rank=1, source="DEPT", verified=False),
    # environment bureau (生态环境局)
    Entry("主要污染物排放总量", "主要污染物排放总量", "emissions_t", rank=0, source="DEPT", verified=False),
    Entry("化学需氧量", "化学需氧量", None, source="DEPT", verified=False,
          note="one pollutant: sum the main pollutants into 主要污染物排放量"),
    Entry("氨氮", "氨氮", None, source="DEPT", verified=False, note="one pollutant: sum the main pollutants"),
    Entry("二氧化硫", "二氧化硫", None, source="DEPT", verified=False, note="one pollutant: sum the main pollutants"),
    Entry("氮氧化物", "氮氧化物", None, source="DEPT", verified=False, note="one pollutant: sum the main pollutants"),
    Entry("排污许可证编号", "排污许可证编号", None, source="DEPT", verified=False),
    Entry("是否发生重大安全环保事故", "是否发生重大安全环保事故", "major_incident", rank=0, source="DEPT",
          verified=False),
    # statistics bureau (统计局)
    Entry("年均职工人数", "年均职工人数", "employees", rank=0, source="DEPT", verified=False),
    Entry("从业人员平均人数", "从业人员平均人数", "employees", rank=0, source="STATS", verified=False),
    Entry("从业人员年平均人数", "从业人员年平均人数", "employees", rank=0, source="STATS", verified=False),
    Entry("平均用工人数", "平均用工人数", "employees", rank=1, source="DEPT", verified=False),
    Entry("年末从业人员", "年末从业人员", "employees", rank=2, source="STATS", verified=False,
          note="a year-end count; used when the file has no average"),
    Entry("工业增加值(现价)", "工业增加值(现价)", "value_added_10k", rank=0, source="STATS", verified=False),
    Entry("综合能源消费量", "综合能源消费量", "energy_tce", rank=0, source="STATS", verified=False),
    Entry("能源消费总量", "能源消费总量", "energy_tce", rank=1, source="STATS", verified=False),
    Entry("研究与试验发展(R&D)经费支出", "研究与试验发展(R&D)经费支出", "rd_10k", rank=0, source="STATS",
          verified=False),
    Entry("R&D经费支出", "R&D经费支出", "rd_10k", rank=0, source="STATS", verified=False),
    Entry("研发费用", "研发费用", "rd_10k", rank=1, source="DEPT", verified=False),
    Entry("工业总产值", "工业总产值", None, source="STATS", verified=False, note="no such field: value added is used"),
)

#: catalogue name → (layer, entries)
CATALOGUES: dict[str, tuple[str, tuple[Entry, ...]]] = {
    "DLTB": ("plots", _DLTB),
    "ZD": ("plots", _ZD),
    "DEPT": ("enterprises", _DEPT),
}


def entries_for(layer: str) -> tuple[Entry, ...]:
    """Every catalogue entry that concerns ``layer``."""
    return tuple(e for target, entries in CATALOGUES.values() if target == layer for e in entries)

