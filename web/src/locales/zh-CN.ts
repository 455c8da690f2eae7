/** The console's own words in Chinese, the default. Labels of the registry's vocabularies come from the API. */
const zhCN = {
  app: {
    name: '公车调度平台',
    language: '语言',
    signOut: '退出',
    docs: '接口文档',
  },
  nav: {
    trips: '我的行程',
    map: '车辆地图',
  },
  signIn: {
    title: '登录',
    intro: '请粘贴管理员用 gongche users add 为您签发的访问令牌。令牌只保存在本浏览器标签页中，关闭即失效。',
    token: '访问令牌',
    tokenRequired: '请粘贴访问令牌',
    submit: '登录',
    refused: '令牌无效或已过期，请向管理员申请新的令牌。',
    checking: '正在验证…',
  },
  trips: {
    title: '我的行程',
    empty: '暂无行程',
    total: '共 {{count}} 条',
    id: '编号',
    agency: '用车单位',
    purpose: '事由',
    priority: '优先级',
    pickupWindow: '上车时间',
    pickup: '上车地点',
    dropoff: '目的地',
    passengers: '乘车人数',
    status: '状态',
    vehicle: '车辆',
    createdAt: '申请时间',
    timeline: '时间轴',
    timeZoneNote: '时间均为北京时间（24 小时制）',
  },
  map: {
    title: '车辆地图',
    yards: '各单位车场',
    agency: '单位',
    vehicles: '车辆数',
    located: '有车场坐标',
    forbidden: '您的角色无权查看车辆登记信息（调度员、监督检查人员与车辆管理员可查看）。',
    noTiles: '未配置底图：地图只显示车场位置与比例尺。',
    unlocated: '{{count}} 辆车未登记车场坐标',
  },
  errors: {
    load: '加载失败：{{detail}}',
  },
};

export default zhCN;
export type Catalog = typeof zhCN;
