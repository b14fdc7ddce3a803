"""Find a CJK font on this machine for PDF reports (no download, no system font cache needed).

Looks at ``$PLANNER_CJK_FONT`` first, then the Debian locations of WenQuanYi Zen Hei
(package ``fonts-wqy-zenhei``), WenQuanYi Micro Hei and Noto Sans CJK.
"""
from __future__ import annotations

import os
from pathlib import Path

from geo.errors import PlannerError

__all__ = ["CJK_FONT_CANDIDATES", "FontNotFoundError", "cjk_font_path"]

#: (path, index of the face inside a .ttc collection)
CJK_FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2 = Simplified Chinese
)


class FontNotFoundError(PlannerError, OSError):
    """No font that can draw Chinese characters was found."""


def cjk_font_path() -> tuple[Path, int]:
    """(font file, face index) of the first CJK font found; raises :class:`FontNotFoundError`."""
    env = os.environ.get("PLANNER_CJK_FONT")
    candidates = ([(env, 0)] if env else []) + list(CJK_FONT_CANDIDATES)
    for path, index in candidates:
        if path and Path(path).is_file():
            return Path(path), index
    tried = ", ".join(p for p, _ in candidates if p)
    raise FontNotFoundError(
        f"No CJK font for the PDF report; looked at {tried}. Install the Debian package fonts-wqy-zenhei "
        "(apt-get install fonts-wqy-zenhei) or set PLANNER_CJK_FONT to a .ttf/.ttc file with Chinese glyphs.",
        message_zh="找不到中文字体,无法生成 PDF。请安装 Debian 软件包 fonts-wqy-zenhei(apt-get install fonts-wqy-zenhei),"
                   "或用环境变量 PLANNER_CJK_FONT 指定中文字体文件。",
    )
