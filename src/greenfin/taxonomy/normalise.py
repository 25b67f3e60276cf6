"""Folding loan texts so that one phrase matches however a bank system wrote it.

Bank exports mix full-width and half-width characters, insert spaces, and now and then come
from a Hong Kong or Taiwan system in traditional characters.  Matching is done on a folded
copy: NFKC (full width to half width, compatibility forms), lower case, no white space, and the
traditional characters common in green-finance texts mapped to simplified ones.  The table is
deliberately small (the characters of energy, environment, transport and building vocabulary):
a full converter would cost more than it brings here.
"""

from __future__ import annotations

import re
import unicodedata

# Pairs of (traditional, simplified), written by us for the vocabulary of the catalogues.
_TRADITIONAL = (
    "風风電电發发場场設设備备處处環环節节熱热儲储網网車车輛辆築筑綠绿護护態态廠厂鍋锅爐炉"
    "氣气線线統统產产業业項项運运營营資资貸贷貿贸銷销務务閥阀機机組组實实際际規规劃划區区"
    "縣县鄉乡鎮镇縱纵條条開开關关離离與与為为這这們们來来個个樣样點点時时會会對对將将於于"
    "從从動动們们變变轉转換换費费額额價价貴贵幣币銀银險险擔担證证認认評评測测檢检計计算算"
    "標标準准級级證证專专門门導导園园區区農农漁渔牧牧礦矿綜综勢势廢废棄弃處处理理淨净潔洁"
    "汙污濁浊噸吨燒烧煙烟塵尘脫脱硫硫硝硝氮氮淡淡鹽盐灘滩湖湖濕湿態态滲渗灌灌溉溉節节約约"
    "水水資资紡纺織织製制鋼钢鐵铁鋁铝銅铜鋰锂電电池池輪轮軌轨鐵铁橋桥隧隧號号擴扩漲涨減减"
    "碳碳匯汇雙双蓄蓄補补貼贴稅税務务優优質质體体系系閉闭環环節节餘余溫温熱热煉炼燃燃"
    "壓压縮缩輸输配配調调峰峰荷荷載载錄录應应屬属圍围層层樓楼磚砖牆墙窗窗戶户熱热泵泵"
    "車车輛辆驅驱動动純纯燃燃料料氫氢橡橡膠胶塑塑膠胶紙纸漿浆藥药醫医養养殖殖鮮鲜蔬蔬菜菜"
    "樁桩術术綿绵陽阳聯联裝装購购監监墾垦迴回經经濟济輕轻貨货揮挥種种糞粪"
    "潛潜燈灯臺台閘闸廣广東东華华團团櫃柜滬沪廈厦蘇苏漢汉遼辽陝陕齒齿飛飞鍍镀墊垫雜杂"
)
_TABLE = {ord(_TRADITIONAL[i]): _TRADITIONAL[i + 1] for i in range(0, len(_TRADITIONAL) - 1, 2)}
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The folded form of a text, on which every phrase is matched."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_TABLE)
    return _SPACE.sub("", folded)
