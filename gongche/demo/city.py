"""The demo city, 武汉市: its agencies and their quotas, the models they buy, the people who keep its registry,
and the places the demo's trips start from and end at: data, which the demo's parts read from here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fleet.audit import Actor
from fleet.enums import Category, Powertrain

ADMIN = Actor("机关事务管理局-车管科", "admin")
APPROVER = Actor("财政局-资产处", "admin")
CLERK = Actor("车管平台-财务", "admin")

# Energy cost per km by powertrain (fuel at about 7.5 CNY/L, charging at about 0.8 CNY/kWh).
ENERGY_CNY_PER_KM = {Powertrain.ice: Decimal("0.62"), Powertrain.hev: Decimal("0.42"), Powertrain.phev: Decimal("0.30"),
                     Powertrain.bev: Decimal("0.12"), Powertrain.fcev: Decimal("0.45")}

# code, name, jurisdiction, quotas per category
AGENCIES: list[tuple[str, str, str, dict[Category, int]]] = [
    ("WH-SWBGT", "中共武汉市委办公厅", "420100",
     {Category.confidential_comms: 6, Category.emergency: 4, Category.general: 3}),
    ("WH-ZFBGT", "武汉市人民政府办公厅", "420100",
     {Category.confidential_comms: 5, Category.emergency: 4, Category.general: 4}),
    ("WH-JWJW", "武汉市纪委监委", "420100", {Category.law_enforcement: 10, Category.general: 2}),
    ("WH-GAJ", "武汉市公安局", "420100",
     {Category.law_enforcement: 62, Category.emergency: 10, Category.special_technical: 6}),
    ("WH-YJJ", "武汉市应急管理局", "420100", {Category.emergency: 14, Category.special_technical: 4}),
    ("WH-WJW", "武汉市卫生健康委员会", "420100", {Category.emergency: 8, Category.special_technical: 5}),
    ("WH-SCJG", "武汉市市场监督管理局", "420100", {Category.law_enforcement: 18}),
    ("WH-CGW", "武汉市城市管理执法委员会", "420100", {Category.law_enforcement: 26}),
    ("WH-STHJ", "武汉市生态环境局", "420100", {Category.law_enforcement: 10, Category.special_technical: 4}),
    ("WH-JTJ", "武汉市交通运输局", "420100", {Category.law_enforcement: 16}),
    ("WH-CZJ", "武汉市财政局", "420100", {Category.general: 3}),
    ("WH-JYJ", "武汉市机要保密局", "420100", {Category.confidential_comms: 8}),
    ("WH-ZRZY", "武汉市自然资源和规划局", "420100", {Category.law_enforcement: 8, Category.special_technical: 3}),
    ("WH-SWJ", "武汉市水务局", "420100", {Category.emergency: 6, Category.special_technical: 3}),
    ("WH-NYNC", "武汉市农业农村局", "420100", {Category.law_enforcement: 6}),
    ("WH-WLJ", "武汉市文化和旅游局", "420100", {Category.law_enforcement: 5}),
    ("WH-CJJ", "武汉市城乡建设局", "420100", {Category.law_enforcement: 6}),
    ("WH-JGSW", "武汉市机关事务服务中心(公车平台)", "420100", {Category.general: 22, Category.emergency: 4}),
    ("JA-ZF", "江岸区人民政府", "420102", {Category.general: 4, Category.emergency: 4, Category.law_enforcement: 8}),
    ("WC-ZF", "武昌区人民政府", "420106", {Category.general: 4, Category.emergency: 4, Category.law_enforcement: 8}),
    ("HS-ZF", "洪山区人民政府", "420111", {Category.general: 4, Category.emergency: 4, Category.law_enforcement: 8}),
]


@dataclass(frozen=True)
class Model:
    name: str
    powertrain: Powertrain
    price: int
    litres: str | None = None
    range_km: int | None = None
    seats: int = 5


# Models as bought by agencies (prices excluding purchase tax, within the 2017 standards).
SEDANS_ICE = [Model("大众朗逸 1.5L", Powertrain.ice, 108000, "1.5"),
              Model("丰田卡罗拉 1.5L", Powertrain.ice, 115000, "1.5"),
              Model("别克英朗 1.5L", Powertrain.ice, 99000, "1.5"),
              Model("大众桑塔纳 1.5L", Powertrain.ice, 89000, "1.5")]
SEDANS_HEV = [Model("丰田卡罗拉双擎 1.8L", Powertrain.hev, 128000, "1.8")]
SEDANS_NEV = [Model("比亚迪秦PLUS EV", Powertrain.bev, 126000, None, 420),
              Model("广汽埃安S", Powertrain.bev, 139000, None, 410),
              Model("比亚迪秦PLUS DM-i 1.5L", Powertrain.phev, 105000, "1.5", 55),
              Model("长安逸动 EV460", Powertrain.bev, 118000, None, 360)]
SUV_EMERGENCY = [Model("哈弗H6 1.5T", Powertrain.ice, 135000, "1.5", seats=5),
                 Model("比亚迪宋PLUS DM-i", Powertrain.phev, 158000, "1.5", 110),
                 Model("江铃全顺 2.0T 应急指挥车", Powertrain.ice, 178000, "1.8", seats=7)]
SPECIAL = [Model("依维柯 环境监测车", Powertrain.ice, 320000, "2.8", seats=6),
           Model("福特全顺 勘查车", Powertrain.ice, 265000, "2.0", seats=7),
           Model("江铃E路顺 监测车", Powertrain.bev, 240000, None, 260, seats=6)]
BUSES = [Model("宇通 ZK6729 中型客车", Powertrain.ice, 285000, "3.0", seats=19)]


def models_for(category: Category) -> list[Model]:
    if category is Category.special_technical:
        return SPECIAL
    if category is Category.emergency:
        return SUV_EMERGENCY + SEDANS_NEV[:2]
    if category is Category.general:
        return SEDANS_ICE[:2] + SEDANS_NEV + BUSES
    return SEDANS_ICE + SEDANS_HEV + SEDANS_NEV


# Room left in the quota of the agencies that plan acquisitions this year.
HEADROOM = {"WH-CGW": 12, "WH-YJJ": 4}
GIVEN_NAMES = ("建国", "志强", "海涛", "德明", "卫东", "红梅")
UNMARKED_SERIALS = frozenset({37, 211})  # two marking lapses (未标识, no exemption) for supervisors to find
# 东湖风景区 and a KTV street: the shipped example geofences (fleet/usage_audit.yaml) these drop-offs fall into.
EAST_LAKE = (30.5535, 114.4090)
