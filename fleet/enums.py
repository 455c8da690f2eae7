"""The registry's closed vocabularies. Each member carries its Chinese label as data (`.zh`)."""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members also carry a Chinese label: ``Category("emergency").zh == "应急保障"``."""

    zh: str

    def __new__(cls, value: str, zh: str = "") -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh
        return member


class Category(LabelledEnum):
    """Vehicle category (公务用车类别) after the reform."""

    confidential_comms = "confidential_comms", "机要通信"
    emergency = "emergency", "应急保障"
    law_enforcement = "law_enforcement", "执法执勤"
    special_technical = "special_technical", "特种专业技术"
    general = "general", "其他"


class Powertrain(LabelledEnum):
    ice = "ice", "燃油"
    hev = "hev", "油电混合"
    phev = "phev", "插电式混合动力(含增程式)"
    bev = "bev", "纯电动"
    fcev = "fcev", "燃料电池"


class JurisdictionLevel(LabelledEnum):
    province = "province", "省"
    city = "city", "市"
    county = "county", "县(区)"


class VehicleStatus(LabelledEnum):
    active = "active", "在用"
    maintenance = "maintenance", "维修"
    sealed = "sealed", "封存"
    disposed = "disposed", "已处置"


class MarkingStatus(LabelledEnum):
    """标识化: official vehicles carry a visible marking unless exempted (e.g. confidential work)."""

    marked = "marked", "已标识"
    exempt = "exempt", "免于标识"
    unmarked = "unmarked", "未标识"


class VehicleSource(LabelledEnum):
    retained = "retained", "保留车辆"
    platform = "platform", "平台车辆"
    rental = "rental", "社会化租赁"


class PlanStatus(LabelledEnum):
    draft = "draft", "草稿"
    submitted = "submitted", "已提交"
    approved = "approved", "已批准"
    rejected = "rejected", "已驳回"


class PlanLineKind(LabelledEnum):
    new = "new", "新增"
    renewal = "renewal", "更新"


class EarlyRenewalBasis(LabelledEnum):
    """Why a vehicle younger than the renewal age may be replaced. ``post_change`` is listed so it can be refused."""

    accident_beyond_repair = "accident_beyond_repair", "事故损毁无修复价值"
    safety_hazard = "safety_hazard", "存在安全隐患"
    excessive_mileage = "excessive_mileage", "行驶里程过高"
    other_approved = "other_approved", "其他经批准的原因"
    post_change = "post_change", "使用人职务变动"


class DisposalMethod(LabelledEnum):
    auction = "auction", "公开拍卖"
    manufacturer_recycling = "manufacturer_recycling", "厂家回收"
    scrap = "scrap", "报废"
    transfer_out = "transfer_out", "调出"


class CostKind(LabelledEnum):
    fuel = "fuel", "燃油费"
    charging = "charging", "充电费"
    maintenance = "maintenance", "维修保养费"
    insurance = "insurance", "保险费"
    tolls = "tolls", "通行费"
    parking = "parking", "停车费"
    other = "other", "其他"


class LicenceClass(LabelledEnum):
    """Chinese driving licence classes relevant to official vehicles (准驾车型)."""

    A1 = "A1", "大型客车"
    A2 = "A2", "牵引车"
    A3 = "A3", "城市公交车"
    B1 = "B1", "中型客车"
    B2 = "B2", "大型货车"
    C1 = "C1", "小型汽车"
    C2 = "C2", "小型自动挡汽车"


class Priority(LabelledEnum):
    """Trip priority, in dispatch order (the dispatch engine's tiers)."""

    emergency = "emergency", "应急"
    law_enforcement = "law_enforcement", "执法执勤"
    routine = "routine", "一般公务"


class TripStatus(LabelledEnum):
    requested = "requested", "已申请"
    approved = "approved", "已审批"
    rejected = "rejected", "已驳回"
    assigned = "assigned", "已派车"
    in_progress = "in_progress", "出车中"
    completed = "completed", "已完成"
    cancelled = "cancelled", "已取消"
    # Sent to a contracted rental provider (定点租赁) instead of a fleet vehicle: outside 编制 and the fleet's ledger.
    rented = "rented", "已转租赁"


class RunStatus(LabelledEnum):
    """A dispatch run holds its window while it solves; a crashed run's hold lapses (see `fleet.dispatching`)."""

    running = "running", "调度中"
    done = "done", "已完成"
    failed = "failed", "失败"


class OversightOffice(LabelledEnum):
    """Which oversight body a supervisor reads for (监督检查): all three read the same records, within their scope."""

    discipline = "discipline", "纪检监察"
    finance = "finance", "财政"
    audit = "audit", "审计"


class RegistrationBasis(LabelledEnum):
    """Why a vehicle outside the registration rules (acquired after go-live, or above the equipment standard) was
    registered all the same: recorded on the vehicle and listed in the annual report."""

    pre_platform_purchase = "pre_platform_purchase", "上线前已购置、上线后入账"
    transfer_in = "transfer_in", "上级或外地调入"
    donation = "donation", "接受捐赠"
    confiscation = "confiscation", "罚没车辆划转"
    other_approved = "other_approved", "其他经批准的原因"


class AssignmentSource(LabelledEnum):
    dispatch = "dispatch", "统一调度"
    urgent = "urgent", "紧急插单"
    manual = "manual", "人工派车"


class Role(LabelledEnum):
    requester = "requester", "用车申请人"
    approver = "approver", "单位审批人"
    dispatcher = "dispatcher", "平台调度员"
    driver = "driver", "驾驶员"
    supervisor = "supervisor", "监督检查(纪检/财政)"
    admin = "admin", "车辆管理员"


class PositionSource(LabelledEnum):
    """Where a fix came from: a vehicle terminal's JT/T 808 frame or a phone's OsmAnd/Traccar report."""

    jt808 = "jt808", "JT/T 808 车载终端"
    osmand = "osmand", "OsmAnd/Traccar 手机定位"
