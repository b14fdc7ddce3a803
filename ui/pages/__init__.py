"""Analysis and shortlist pages of the planner's app, one module per page (each exposes ``render()``).

``shortlist``       the shortlist pipeline and its exports for township officials
``evaluation``      亩均 evaluation: table, class mix, editable weights, re-grades
``low_efficiency``  low-efficiency plots with each flag and its rule
``redevelopment``   potential, suitability weights, contiguous clusters
``siting``          relocation siting: run, assignments on a map, utilisation, single-firm ranking
``integration``     cross-township joint-development zones
``parks``           park dashboards with the ≥ 70 % leading-industry rule
``compare``         two runs side by side: class transitions, score changes, plots entering or leaving the list

Shared (``_common``): the run picker, tables with ticks that follow object ids (``pick_rows``), the
"add to shortlist" button, the note naming the filters in force.  Values are formatted by
``ui.format`` / ``exports.formatting``; only the open tab of a page is drawn.
"""
