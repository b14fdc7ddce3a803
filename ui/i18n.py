"""UI strings in Chinese (default) and English.

Layer and field labels are not here: they come from ``layers/schema.py`` (``SPECS[name].label_zh``,
:func:`layers.schema.labels`) so the map, tables and exports all say the same thing.
:func:`layer_label` and :func:`value_label` are thin lookups into that module.
"""
from __future__ import annotations

from layers.schema import SPECS, VALUE_LABELS_ZH

__all__ = ["LANGS", "DEFAULT_LANG", "STRINGS", "t", "layer_label", "value_label", "check_lang"]

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, dict[str, str]] = {
    "app_title": {"zh": "园区与低效用地再开发规划系统", "en": "Industrial Parks & Land Reuse Planner"},
    "page_map": {"zh": "地图浏览", "en": "Map"},
    "language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "layers": {"zh": "图层", "en": "Layers"},
    "basemap": {"zh": "底图", "en": "Base map"},
    "basemap_none": {"zh": "无底图(离线)", "en": "None (offline)"},
    "basemap_osm": {"zh": "OpenStreetMap", "en": "OpenStreetMap"},
    "basemap_tianditu_vec": {"zh": "天地图 矢量", "en": "Tianditu vector"},
    "basemap_tianditu_img": {"zh": "天地图 影像", "en": "Tianditu imagery"},
    "tianditu_no_key": {
        "zh": "未设置天地图密钥:请设置环境变量 TIANDITU_KEY 或在 .streamlit/secrets.toml 中写入 TIANDITU_KEY。",
        "en": "No Tianditu key: set the TIANDITU_KEY environment variable or TIANDITU_KEY in .streamlit/secrets.toml.",
    },
    "basemap_online_note": {
        "zh": "在线底图需要互联网;内网环境请选择“无底图”。",
        "en": "Online base maps need internet access; on an intranet choose “None”.",
    },
    "style_by": {"zh": "地块着色", "en": "Colour plots by"},
    "style_land_use": {"zh": "用地分类", "en": "Land use"},
    "style_status": {"zh": "利用状态", "en": "Status"},
    "legend": {"zh": "图例", "en": "Legend"},
    "other": {"zh": "其他", "en": "Other"},
    "workspace": {"zh": "工作空间", "en": "Workspace"},
    "no_workspace": {
        "zh": "找不到工作空间 {path}。请运行 `python cli.py sample` 生成示例数据,或设置环境变量 PLANNER_WORKSPACE。",
        "en": "No workspace at {path}. Run `python cli.py sample` to build the sample, or set PLANNER_WORKSPACE.",
    },
    "no_layers": {"zh": "未选择任何图层。", "en": "No layer selected."},
    "features": {"zh": "要素数", "en": "Features"},
    "loading": {"zh": "正在加载图层…", "en": "Loading layers…"},
    "mu": {"zh": "亩", "en": "mu"},
    # non-core layers the map knows by name (core layer names come from layers/schema.py)
    "layer_county_outline": {"zh": "市域范围", "en": "County outline"},
    # land-use classes of GB/T 21010 used in plot styling
    "lu_0601": {"zh": "工业用地", "en": "Industrial"},
    "lu_0604": {"zh": "仓储用地", "en": "Warehousing"},
    "lu_other": {"zh": "其他用地", "en": "Other land use"},
    # analysis and shortlist pages (ui/pages/*)
    "pg_user": {"zh": "操作人", "en": "Your name"},
    "pg_error_details": {"zh": "问题明细", "en": "Details"},
    "pg_unexpected_error": {"zh": "操作未完成({kind}):{msg}。数据未被修改;请检查输入后重试,若仍失败请联系管理员。",
                            "en": "The action did not complete ({kind}): {msg}. Nothing was changed; check the input and "
                                  "retry, or contact the administrator if it fails again."},
    "pg_run": {"zh": "分析运行", "en": "Analysis run"},
    "pg_new_run": {"zh": "运行分析", "en": "Run the analyses"},
    "pg_preset": {"zh": "参数方案", "en": "Preset"},
    "pg_run_button": {"zh": "开始分析", "en": "Run analysis"},
    "pg_running": {"zh": "正在运行分析(亩均评价 → 低效认定 → 再开发潜力 → 园区)…",
                   "en": "Running the analyses (per-mu → low-efficiency → redevelopment → parks)…"},
    "pg_run_done": {"zh": "分析完成:运行 {run}({secs:.1f} 秒)", "en": "Done: run {run} ({secs:.1f} s)"},
    "pg_run_failed": {"zh": "分析失败", "en": "The analysis failed"},
    "pg_no_run": {"zh": "尚无分析结果:请在左侧“运行分析”中选择参数方案并点击“开始分析”(示例数据约需 10 秒)。",
                  "en": "No analysis results yet: choose a preset under “Run the analyses” in the sidebar and click "
                        "“Run analysis” (about 10 s on the sample)."},
    "pg_add_to_shortlist": {"zh": "加入清单", "en": "Add to shortlist"},
    "pg_added": {"zh": "已加入清单:{n} 项(已在清单中的 {skipped} 项未重复添加)。",
                 "en": "Added to the shortlist: {n} item(s) ({skipped} already listed were left as they were)."},
    "pg_pick_rows": {"zh": "在表格中勾选行后可加入清单。", "en": "Tick rows in the table to add them to the shortlist."},
    # shortlist page (ui/pages/shortlist.py)
    "page_shortlist": {"zh": "候选清单", "en": "Shortlist"},
    "sl_empty": {"zh": "清单为空:在地图、低效用地、再开发潜力或搬迁选址页面勾选对象后点击“加入清单”。",
                 "en": "The shortlist is empty: tick items on the map, low-efficiency, redevelopment or siting pages "
                       "and click “Add to shortlist”."},
    "sl_scope": {"zh": "镇街范围", "en": "Township"},
    "sl_all": {"zh": "全部清单", "en": "Whole shortlist"},
    "sl_area_help": {"zh": "面积合计 {mu} 亩", "en": "Total area {mu} mu"},
    "sl_col_rank": {"zh": "排序", "en": "Rank"},
    "sl_col_item_kind": {"zh": "对象类型", "en": "Kind"},
    "sl_col_item_id": {"zh": "对象编号", "en": "Item"},
    "sl_col_township_name": {"zh": "责任镇街", "en": "Township"},
    "sl_col_status": {"zh": "状态", "en": "Status"},
    "sl_col_area_mu": {"zh": "面积(亩)", "en": "Area (mu)"},
    "sl_col_grade": {"zh": "亩均评价类别", "en": "Per-mu class"},
    "sl_col_score": {"zh": "评分", "en": "Score"},
    "sl_col_reasons": {"zh": "列入理由", "en": "Why listed"},
    "sl_col_notes": {"zh": "备注", "en": "Notes"},
    "sl_col_updated_by": {"zh": "修改人", "en": "Changed by"},
    "sl_col_updated_at": {"zh": "修改时间", "en": "Changed at"},
    "sl_col_at": {"zh": "时间", "en": "When"},
    "sl_col_who": {"zh": "操作人", "en": "Who"},
    "sl_col_action": {"zh": "操作", "en": "Action"},
    "sl_col_entry_id": {"zh": "条目编号", "en": "Entry"},
    "sl_col_field": {"zh": "字段", "en": "Field"},
    "sl_col_old_value": {"zh": "原值", "en": "Old value"},
    "sl_col_new_value": {"zh": "新值", "en": "New value"},
    "sl_col_reason": {"zh": "原因", "en": "Reason"},
    "sl_kind_plot": {"zh": "地块", "en": "Plot"},
    "sl_kind_cluster": {"zh": "连片区", "en": "Cluster"},
    "sl_kind_site": {"zh": "选址", "en": "Site"},
    "sl_edit": {"zh": "修改条目", "en": "Edit an entry"},
    "sl_entry": {"zh": "条目", "en": "Entry"},
    "sl_status": {"zh": "状态", "en": "Status"},
    "sl_status_help": {"zh": "每次前进一步(候选 → 已核实 → 已上报 → 已处置);退回上一步需填写原因。",
                       "en": "One step forward at a time (candidate → verified → reported → disposed); "
                             "one step back needs a reason."},
    "sl_township": {"zh": "责任镇街", "en": "Responsible township"},
    "sl_rank": {"zh": "排序", "en": "Rank"},
    "sl_notes": {"zh": "备注", "en": "Notes"},
    "sl_reason": {"zh": "原因(退回上一步时必填,记入修改记录)", "en": "Reason (required to step back; kept in the history)"},
    "sl_save": {"zh": "保存修改", "en": "Save changes"},
    "sl_nothing": {"zh": "没有要保存的修改。", "en": "Nothing to save."},
    "sl_saved": {"zh": "已保存 {entry} 的修改。", "en": "Saved the changes to {entry}."},
    "sl_remove": {"zh": "从清单移除", "en": "Remove from the shortlist"},
    "sl_remove_reason": {"zh": "移除原因(必填)", "en": "Reason for removal (required)"},
    "sl_remove_button": {"zh": "移除该条目", "en": "Remove this entry"},
    "sl_remove_needs_reason": {"zh": "未移除:请填写移除原因(记入修改记录,便于日后恢复)。",
                               "en": "Not removed: give a reason (it is kept in the history so the entry can be restored)."},
    "sl_removed": {"zh": "已移除 {entry}(记录保留在修改记录中)。", "en": "Removed {entry} (kept in the history)."},
    "sl_bulk": {"zh": "批量更改状态", "en": "Change several statuses"},
    "sl_bulk_entries": {"zh": "条目", "en": "Entries"},
    "sl_bulk_status": {"zh": "改为状态", "en": "New status"},
    "sl_bulk_button": {"zh": "批量更改", "en": "Change statuses"},
    "sl_bulk_done": {"zh": "已将 {n} 项改为 {status}。", "en": "Moved {n} item(s) to {status}."},
    "sl_reorder": {"zh": "重新排序", "en": "Re-order"},
    "sl_reorder_by": {"zh": "排序依据", "en": "Order by"},
    "sl_reorder_button": {"zh": "按此排序", "en": "Re-order"},
    "sl_reordered": {"zh": "已重新排序。", "en": "Re-ordered."},
    "sl_sort_score": {"zh": "评分(高→低)", "en": "Score (high → low)"},
    "sl_sort_area_m2": {"zh": "面积(大→小)", "en": "Area (large → small)"},
    "sl_sort_township_code": {"zh": "镇街", "en": "Township"},
    "sl_sort_status": {"zh": "状态", "en": "Status"},
    "sl_history": {"zh": "修改记录", "en": "History"},
    "sl_history_only": {"zh": "只看所选条目", "en": "Selected entry only"},
    "sl_history_empty": {"zh": "暂无修改记录。", "en": "No changes recorded yet."},
    "sl_action_add": {"zh": "加入", "en": "added"},
    "sl_action_remove": {"zh": "移除", "en": "removed"},
    "sl_action_update": {"zh": "修改", "en": "changed"},
    "sl_action_reorder": {"zh": "排序", "en": "re-ordered"},
    "sl_exports": {"zh": "导出给镇街", "en": "Exports for township officials"},
    "sl_export_scope": {"zh": "导出范围:{scope}({n} 项)。在上方“镇街范围”中选择单个镇街。",
                        "en": "Exporting: {scope} ({n} item(s)). Pick one township under “Township” above."},
    "sl_exporting": {"zh": "正在生成导出文件…", "en": "Preparing the files…"},
    "sl_dl_xlsx": {"zh": "下载 Excel", "en": "Download Excel"},
    "sl_dl_csv": {"zh": "下载 CSV", "en": "Download CSV"},
    "sl_dl_gpkg": {"zh": "下载 GeoPackage", "en": "Download GeoPackage"},
    "sl_dl_geojson": {"zh": "下载 GeoJSON", "en": "Download GeoJSON"},
    "sl_dl_kml": {"zh": "下载 KML", "en": "Download KML"},
    "sl_dl_shp": {"zh": "下载 Shapefile(zip)", "en": "Download Shapefile (zip)"},
    "sl_make_pdf": {"zh": "生成 PDF 报告", "en": "Make the PDF report"},
    "sl_making_pdf": {"zh": "正在生成 PDF 报告(含离线地图,每个镇街约 1 秒)…",
                      "en": "Making the PDF report (offline map included, about 1 s per township)…"},
    "sl_dl_pdf": {"zh": "下载 PDF 报告", "en": "Download PDF report"},
    "sl_pdf_hint": {"zh": "先点击“生成 PDF 报告”,随后出现下载按钮。", "en": "Click “Make the PDF report” first; the download button appears next."},
    # import page (ui/import_page.py)
    "page_import": {"zh": "导入数据", "en": "Import data"},
    "imp_intro": {"zh": "上传文件 → 编码与坐标系 → 字段映射 → 校验报告 → 地图预览 → 写入工作空间。写入前不会修改任何数据。",
                  "en": "Upload → encoding and CRS → column mapping → validation report → map preview → commit. "
                        "Nothing is changed before you commit."},
    "imp_step_upload": {"zh": "① 上传文件", "en": "① Upload"},
    "imp_files": {"zh": "文件(Shapefile 请同时上传 .shp/.shx/.dbf/.prj/.cpg,或上传 zip)",
                  "en": "File(s) (for a Shapefile upload .shp/.shx/.dbf/.prj/.cpg together, or one zip)"},
    "imp_layer": {"zh": "导入到图层", "en": "Target layer"},
    "imp_other_layer": {"zh": "其他图层名(小写字母、数字、下划线)", "en": "Other layer name (lower-case, digits, _)"},
    "imp_other": {"zh": "其他…", "en": "Other…"},
    "imp_templates": {"zh": "下载部门数据导入模板(Excel)", "en": "Download department import templates (Excel)"},
    "imp_tpl_land": {"zh": "自然资源(地块)", "en": "Land (plots)"},
    "imp_tpl_tax": {"zh": "税务(税收)", "en": "Tax"},
    "imp_tpl_power": {"zh": "供电(用电量)", "en": "Power"},
    "imp_tpl_environment": {"zh": "生态环境(排放)", "en": "Environment"},
    "imp_tpl_statistics": {"zh": "统计(经济指标)", "en": "Statistics"},
    "imp_step_options": {"zh": "② 编码与坐标系", "en": "② Encoding and CRS"},
    "imp_encoding": {"zh": "属性编码", "en": "Attribute encoding"},
    "imp_auto": {"zh": "自动识别", "en": "Detect"},
    "imp_crs": {"zh": "源坐标系(留空则使用文件自带的;如 EPSG:4528)", "en": "Source CRS (blank: the file's own; e.g. EPSG:4528)"},
    "imp_gcj02": {"zh": "坐标为 GCJ-02(高德/腾讯地图采集),需要转换", "en": "Coordinates are GCJ-02 (Gaode/Tencent): convert"},
    "imp_swap": {"zh": "互换 x/y 坐标轴", "en": "Swap x and y"},
    "imp_mode": {"zh": "导入方式", "en": "Mode"},
    "imp_mode_auto": {"zh": "自动", "en": "Automatic"},
    "imp_mode_replace": {"zh": "替换图层", "en": "Replace the layer"},
    "imp_mode_join": {"zh": "按编号连接到已有图层", "en": "Join onto the existing layer by key"},
    "imp_advanced": {"zh": "更多选项(工作表、压缩包成员、GeoPackage 图层、已保存映射)",
                     "en": "More options (sheet, zip member, GeoPackage layer, saved mapping)"},
    "imp_sheet": {"zh": "Excel 工作表", "en": "Excel sheet"},
    "imp_member": {"zh": "压缩包内的数据文件", "en": "Dataset inside the zip"},
    "imp_source_layer": {"zh": "GeoPackage 图层", "en": "GeoPackage layer"},
    "imp_saved_mapping": {"zh": "使用已保存的字段映射", "en": "Use a saved column mapping"},
    "imp_none": {"zh": "(无)", "en": "(none)"},
    "imp_preview": {"zh": "预览与校验", "en": "Preview and check"},
    "imp_no_file": {"zh": "请先上传文件。", "en": "Upload a file first."},
    "imp_too_big": {"zh": "上传文件共 {mb} MB,超过上限 {limit} MB。", "en": "The upload is {mb} MB, over the limit of {limit} MB."},
    "imp_step_mapping": {"zh": "③ 字段映射", "en": "③ Column mapping"},
    "imp_source_col": {"zh": "源列", "en": "Source column"},
    "imp_field": {"zh": "对应字段", "en": "Field"},
    "imp_unit": {"zh": "单位", "en": "Unit"},
    "imp_apply_mapping": {"zh": "按此映射重新预览", "en": "Preview again with this mapping"},
    "imp_unmapped": {"zh": "未导入的列", "en": "Columns not imported"},
    "imp_encoding_found": {"zh": "编码:{enc}({how})", "en": "Encoding: {enc} ({how})"},
    "imp_crs_steps": {"zh": "坐标处理", "en": "CRS steps"},
    "imp_notes": {"zh": "说明", "en": "Notes"},
    "imp_raw_preview": {"zh": "原始数据(前 10 行)", "en": "Source rows (first 10)"},
    "imp_step_report": {"zh": "④ 校验报告", "en": "④ Validation report"},
    "imp_no_problems": {"zh": "未发现问题。", "en": "No problems found."},
    "imp_repairs": {"zh": "几何修复与面积变化(平方米)", "en": "Geometry repairs and area change (m²)"},
    "imp_step_map": {"zh": "⑤ 地图预览", "en": "⑤ Map preview"},
    "imp_step_commit": {"zh": "⑥ 写入工作空间", "en": "⑥ Commit"},
    "imp_on_problems": {"zh": "有错误的行", "en": "Rows with errors"},
    "imp_op_cancel": {"zh": "有错误则取消(不写入)", "en": "Cancel if any (write nothing)"},
    "imp_op_skip": {"zh": "跳过这些行", "en": "Skip those rows"},
    "imp_op_fix": {"zh": "能修复的修复,其余跳过", "en": "Repair what can be repaired, skip the rest"},
    "imp_save_mapping": {"zh": "保存字段映射为(可选,明年复用)", "en": "Save the column mapping as (optional, for next year)"},
    "imp_commit": {"zh": "写入工作空间", "en": "Commit to the workspace"},
    "imp_done": {"zh": "已写入 {layer}:{written} 行,跳过 {skipped} 行,修复 {repaired} 行。",
                 "en": "Wrote {layer}: {written} row(s), skipped {skipped}, repaired {repaired}."},
    "imp_rows": {"zh": "{n} 行", "en": "{n} row(s)"},
    "imp_raster": {"zh": "栅格 {kind}:{info}", "en": "Raster {kind}: {info}"},
    # shared plot filters (ui/filters.py)
    "flt_title": {"zh": "筛选地块", "en": "Filter plots"},
    "flt_townships": {"zh": "镇街", "en": "Townships"},
    "flt_parks": {"zh": "园区", "en": "Parks"},
    "flt_no_park": {"zh": "园区外(零散)", "en": "Outside parks (scattered)"},
    "flt_classes": {"zh": "亩均评价分类", "en": "Per-mu class"},
    "flt_no_class": {"zh": "未评价", "en": "Not evaluated"},
    "flt_land_uses": {"zh": "用地分类", "en": "Land use"},
    "flt_area": {"zh": "面积(亩)", "en": "Area (mu)"},
    "flt_score": {"zh": "再开发适宜性评分", "en": "Suitability score"},
    "flt_flags": {"zh": "标记(满足任一)", "en": "Flags (any of)"},
    "flt_flag_low_efficiency": {"zh": "低效用地(任一规则)", "en": "Low-efficiency (any rule)"},
    "flt_flag_candidate": {"zh": "再开发候选", "en": "Redevelopment candidate"},
    "flt_flag_restricted": {"zh": "受限制(不可开发)", "en": "Restricted"},
    "flt_all": {"zh": "全部", "en": "All"},
    "flt_none": {"zh": "不限", "en": "Any"},
    "flt_clear": {"zh": "清除筛选", "en": "Clear filters"},
    "flt_count": {"zh": "符合条件的地块:{n:,} / {total:,}", "en": "Plots matching: {n:,} of {total:,}"},
    "data_no_run": {"zh": "尚未运行分析:地块只显示原始属性。选择参数方案并运行分析后可按评价结果着色和筛选。",
                    "en": "No analysis run yet: plots show their attributes only. Run the analyses to colour and "
                          "filter by results."},
    "data_preset": {"zh": "参数方案", "en": "Preset"},
    "data_run": {"zh": "运行分析", "en": "Run the analyses"},
    "data_run_id": {"zh": "分析运行:{run}", "en": "Analysis run: {run}"},
    # map page: result styles, details panel, search, selection (ui/map_page.py, ui/details.py)
    "style_class": {"zh": "亩均评价分类", "en": "Per-mu class"},
    "style_low_efficiency": {"zh": "低效用地", "en": "Low-efficiency"},
    "style_suitability": {"zh": "再开发适宜性评分", "en": "Suitability score"},
    "style_mode": {"zh": "建议再开发方式", "en": "Suggested mode"},
    "class_A": {"zh": "A 类(优先发展)", "en": "A (priority)"},
    "class_B": {"zh": "B 类(提升发展)", "en": "B (upgrade and support)"},
    "class_C": {"zh": "C 类(调控帮扶)", "en": "C (regulate and help)"},
    "class_D": {"zh": "D 类(倒逼整治)", "en": "D (forced remediation)"},
    "le_yes": {"zh": "低效用地", "en": "Low-efficiency"},
    "le_no": {"zh": "非低效", "en": "Not low-efficiency"},
    "no_result": {"zh": "无结果(非工业用地)", "en": "No result"},
    "no_score": {"zh": "无评分", "en": "No score"},
    "no_mode": {"zh": "无建议", "en": "No suggestion"},
    "mode_jigai": {"zh": "零增地技改", "en": "Upgrade in place"},
    "mode_lianpian": {"zh": "连片整合", "en": "Merge with neighbours"},
    "mode_tengtui": {"zh": "腾退收储", "en": "Vacate and re-let"},
    "mode_tui_er_jin_san": {"zh": "退二进三", "en": "Convert to services"},
    "mode_restricted": {"zh": "限制开发", "en": "Restricted"},
    "map_aggregate": {"zh": "按镇街汇总", "en": "By township"},
    "map_n_plots": {"zh": "地块数", "en": "Plots"},
    "map_area_mu": {"zh": "面积", "en": "Area"},
    "map_zoom_in": {"zh": "当前范围内有 {n:,} 个地块,按镇街汇总显示;放大地图即可看到地块。",
                    "en": "{n:,} plots in view, shown as township totals; zoom in to see the plots."},
    "map_shown": {"zh": "显示 {shown:,} 个地块(筛选后共 {n:,} / {total:,})", "en": "Showing {shown:,} plots ({n:,} of {total:,} after filters)"},
    "map_search": {"zh": "搜索:地块编号、企业名称或统一社会信用代码", "en": "Search: plot id, firm name or credit code"},
    "map_search_go": {"zh": "定位", "en": "Go"},
    "map_search_none": {"zh": "没有找到“{q}”。", "en": "Nothing found for “{q}”."},
    "map_search_pick": {"zh": "找到 {n} 个结果,请选择", "en": "{n} matches: pick one"},
    "map_who": {"zh": "操作人", "en": "Your name"},
    "map_details": {"zh": "要素详情", "en": "Details"},
    "map_click_hint": {"zh": "点击地图上的地块或其他要素查看详情;用左上角的矩形/多边形工具框选地块。",
                       "en": "Click a plot or any feature for its details; draw a rectangle or polygon (top left) to select plots."},
    "map_nothing_here": {"zh": "点击处没有可见要素。", "en": "No visible feature at the clicked point."},
    "det_attributes": {"zh": "属性", "en": "Attributes"},
    "det_results": {"zh": "分析结果", "en": "Analysis results"},
    "det_score": {"zh": "再开发适宜性评分:{score}", "en": "Suitability score: {score}"},
    "det_parts": {"zh": "评分构成(分)", "en": "Score parts (points)"},
    "det_flags": {"zh": "低效认定规则", "en": "Low-efficiency rules"},
    "det_flag_on": {"zh": "触发", "en": "fires"},
    "det_flag_off": {"zh": "未触发", "en": "does not fire"},
    "det_no_flags": {"zh": "未触发任何低效规则。", "en": "No low-efficiency rule fires."},
    "det_reasons": {"zh": "认定理由", "en": "Reasons"},
    "det_mode": {"zh": "建议方式:{mode}(依据:{rule})", "en": "Suggested mode: {mode} (rule: {rule})"},
    "det_firms": {"zh": "地块上的企业({n})", "en": "Firms on the plot ({n})"},
    "det_no_firms": {"zh": "地块上没有登记企业。", "en": "No firm registered on this plot."},
    "det_add": {"zh": "加入清单", "en": "Add to shortlist"},
    "det_added": {"zh": "已将 {ids} 加入清单。", "en": "Added {ids} to the shortlist."},
    "det_already": {"zh": "{ids} 已在清单中。", "en": "{ids} already on the shortlist."},
    "det_cluster": {"zh": "连片地块组:{cid}", "en": "Cluster: {cid}"},
    "sel_title": {"zh": "框选的地块({n})", "en": "Selected plots ({n})"},
    "sel_add_all": {"zh": "全部加入清单", "en": "Add all to shortlist"},
    "sel_clear": {"zh": "清除框选", "en": "Clear selection"},
    "sel_none": {"zh": "框选范围内没有符合筛选条件的地块。", "en": "No plot passing the filters inside the drawn shape."},
}

_VALUE_LABELS_EN = {
    "in_use": "In use", "halted": "Halted", "idle": "Idle", "under_construction": "Under construction",
    "planned": "Planned", "operating": "Operating",
    "ecological_red_line": "Ecological red line", "basic_farmland": "Permanent basic farmland",
    "water_source": "Water-source protection", "river_corridor": "River corridor", "flood_zone": "Flood zone",
    "residential": "Residential", "expressway": "Expressway", "national_road": "National road",
    "provincial_road": "Provincial road", "rail_station": "Rail station", "port": "Port",
    "logistics_centre": "Logistics centre",
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise ``ValueError`` naming the choices."""
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r} is not supported; choose one of {list(LANGS)}")
    return lang


def t(key: str, lang: str = DEFAULT_LANG, **fmt) -> str:
    """The UI string ``key`` in ``lang``, formatted with ``fmt``.

    An unknown key raises ``KeyError`` (a typo must fail in tests, not show a blank).

    >>> t("layers", "en")
    'Layers'
    """
    check_lang(lang)
    try:
        text = STRINGS[key][lang]
    except KeyError:
        raise KeyError(f"no UI string {key!r}; add it to ui/i18n.py STRINGS") from None
    return text.format(**fmt) if fmt else text


def layer_label(name: str, lang: str = DEFAULT_LANG) -> str:
    """Display name of layer ``name``: from its spec, else from ``STRINGS["layer_<name>"]``, else the name."""
    check_lang(lang)
    spec = SPECS.get(name)
    if spec is not None:
        return spec.label(lang)
    known = STRINGS.get(f"layer_{name}")
    return known[lang] if known else name


def value_label(value: str, lang: str = DEFAULT_LANG) -> str:
    """Display label of a categorical value (status, constraint kind...); unknown values pass through."""
    check_lang(lang)
    table = VALUE_LABELS_ZH if lang == "zh" else _VALUE_LABELS_EN
    return table.get(value, value)
