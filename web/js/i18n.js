// UI text in English and Simplified Chinese. The choice is the user's (kept in localStorage);
// the first visit follows the browser's language. Patient data is never translated.

const text = {
  en: {
    'nav.worklist': 'Worklist', 'nav.stats': 'Statistics', 'nav.audit': 'Audit log',
    'nav.logout': 'Log out', 'lang.other': '中文',
    'login.title': 'Sign in to dxhub', 'login.user': 'Username', 'login.password': 'Password',
    'login.submit': 'Sign in', 'login.failed': 'Sign-in failed',
    'login.note': 'Not for use without a doctor: AI findings must be confirmed.',
    'wl.title': 'Worklist', 'wl.from': 'From', 'wl.to': 'To', 'wl.modality': 'Modality',
    'wl.status': 'Review', 'wl.risk': 'AI result', 'wl.search': 'Patient, ID, accession, description',
    'wl.any': 'Any', 'wl.apply': 'Apply', 'wl.clear': 'Clear',
    'wl.patient': 'Patient', 'wl.date': 'Study date', 'wl.mod': 'Mod.', 'wl.desc': 'Description',
    'wl.images': 'Images', 'wl.normal': 'Normal', 'wl.high': 'High risk', 'wl.failed': 'Failed',
    'wl.pending': 'Pending', 'wl.review': 'Review', 'wl.waiting': 'Waiting',
    'wl.empty': 'No studies match.', 'wl.total': '{n} studies', 'wl.prev': 'Previous',
    'wl.next': 'Next', 'wl.page': 'Page {p} of {n}', 'wl.live': 'Live',
    'wl.updated': 'Worklist updated', 'wl.overdue': 'Waiting over {m} min',
    'risk.high': 'High risk', 'risk.failed': 'Failed', 'risk.pending': 'Pending',
    'risk.normal': 'Normal',
    'status.open': 'To read', 'status.none': 'No findings', 'status.awaiting': 'Awaiting confirmation',
    'status.partial': 'Partly reviewed', 'status.confirmed': 'Confirmed', 'status.rejected': 'Rejected',
    'proc.title': 'Processing:', 'proc.run': 'Run', 'proc.queued': 'Queued',
    'proc.show': 'show', 'proc.preset': 'Contrast', 'proc.cta': 'CT angiography',
    'proc.plain': 'No arterial contrast',
    'proc.op.bone': 'Bone removal', 'proc.op.lungs': 'Lung segmentation',
    'proc.op.vessels': 'Vessel tree', 'proc.op.mesh': '3-D surface (STL/OBJ/glTF)',
    'proc.op.mip': 'MIP', 'proc.op.minip': 'MinIP', 'proc.op.mpr': 'MPR', 'proc.op.dsa': 'DSA',
    'proc.state.pending': 'queued', 'proc.state.running': 'running', 'proc.state.done': 'done',
    'proc.state.failed': 'failed',
    'st.back': 'Worklist', 'st.summary': 'AI summary', 'st.model': 'Model',
    'st.highonly': 'High risk only', 'st.series': 'Series {n}', 'st.confirm': 'Confirm',
    'st.reject': 'Reject', 'st.confirmStudy': 'Confirm study findings',
    'st.rejectStudy': 'Reject study findings', 'st.comment': 'Comment (optional)',
    'st.decisions': 'Decisions', 'st.noDecisions': 'No decisions yet.', 'st.open': 'Open viewer',
    'st.decided': 'Decision recorded', 'st.noRights': 'Your role may not confirm findings.',
    'st.reason': 'Reason', 'st.scopeStudy': 'whole study', 'st.risk': 'risk {r}',
    'st.na': 'Not analysed', 'st.by': '{u} at {t}',
    'vw.back': 'Study', 'vw.presets': 'Window', 'vw.default': 'Default', 'vw.lung': 'Lung',
    'vw.bone': 'Bone', 'vw.soft': 'Soft tissue', 'vw.brain': 'Brain', 'vw.fit': 'Fit',
    'vw.zoomIn': 'Zoom in', 'vw.zoomOut': 'Zoom out', 'vw.invert': 'Invert',
    'vw.image': 'Image {i} / {n}', 'vw.frame': 'Frame {f} / {n}',
    'vw.help': 'Drag: window/level · Shift+drag or middle button: pan · Wheel or ↑↓: images · ←→: frames · +/−: zoom · F: fit · 1–5: presets · I: invert',
    'vw.color': 'Colour image: shown as rendered by the server; window/level does not apply.',
    'vw.loading': 'Loading…',
    'stats.title': 'Review statistics', 'stats.model': 'Model', 'stats.version': 'Version',
    'stats.analysed': 'Images analysed', 'stats.high': 'High-risk calls',
    'stats.confirmed': 'Confirmed', 'stats.rejected': 'Rejected', 'stats.undecided': 'Undecided',
    'stats.rate': 'Confirm rate', 'stats.turnaround': 'Turnaround (median / 90th percentile)',
    'stats.toAi': 'Received → AI', 'stats.toViewed': 'AI → viewed',
    'stats.toConfirmed': 'Viewed → confirmed', 'stats.total': 'Received → confirmed',
    'stats.none': 'No AI results in this period.',
    'audit.title': 'Audit log', 'audit.user': 'User', 'audit.export': 'Export CSV',
    'audit.at': 'Time', 'audit.action': 'Action', 'audit.object': 'Object',
    'audit.remote': 'From', 'audit.detail': 'Detail',
    'err.forbidden': 'Not allowed for your role.', 'err.generic': 'Request failed: {m}',
  },
  zh: {
    'nav.worklist': '工作列表', 'nav.stats': '统计', 'nav.audit': '审计日志', 'nav.logout': '退出',
    'lang.other': 'English',
    'login.title': '登录 dxhub', 'login.user': '用户名', 'login.password': '密码',
    'login.submit': '登录', 'login.failed': '登录失败',
    'login.note': 'AI 结果须经医生确认，不能单独用于诊断。',
    'wl.title': '工作列表', 'wl.from': '开始日期', 'wl.to': '结束日期', 'wl.modality': '设备类型',
    'wl.status': '审核状态', 'wl.risk': 'AI 结果', 'wl.search': '患者姓名、ID、检查号、描述',
    'wl.any': '全部', 'wl.apply': '筛选', 'wl.clear': '清除',
    'wl.patient': '患者', 'wl.date': '检查日期', 'wl.mod': '设备', 'wl.desc': '检查描述',
    'wl.images': '图像数', 'wl.normal': '正常', 'wl.high': '高风险', 'wl.failed': '处理失败',
    'wl.pending': '待处理', 'wl.review': '审核', 'wl.waiting': '等待时间',
    'wl.empty': '没有符合条件的检查。', 'wl.total': '共 {n} 个检查', 'wl.prev': '上一页',
    'wl.next': '下一页', 'wl.page': '第 {p} / {n} 页', 'wl.live': '实时',
    'wl.updated': '工作列表已更新', 'wl.overdue': '已等待超过 {m} 分钟',
    'risk.high': '高风险', 'risk.failed': '处理失败', 'risk.pending': '待处理', 'risk.normal': '正常',
    'status.open': '待阅片', 'status.none': '无阳性发现', 'status.awaiting': '待确认',
    'status.partial': '部分审核', 'status.confirmed': '已确认', 'status.rejected': '已否定',
    'proc.title': '图像处理：', 'proc.run': '运行', 'proc.queued': '已加入队列',
    'proc.show': '显示', 'proc.preset': '对比剂', 'proc.cta': 'CT 血管造影',
    'proc.plain': '无动脉对比剂',
    'proc.op.bone': '去骨', 'proc.op.lungs': '肺分割', 'proc.op.vessels': '血管树提取',
    'proc.op.mesh': '三维表面（STL/OBJ/glTF）', 'proc.op.mip': '最大密度投影 MIP',
    'proc.op.minip': '最小密度投影 MinIP', 'proc.op.mpr': '多平面重建 MPR', 'proc.op.dsa': '数字减影 DSA',
    'proc.state.pending': '排队中', 'proc.state.running': '运行中', 'proc.state.done': '完成',
    'proc.state.failed': '失败',
    'st.back': '工作列表', 'st.summary': 'AI 摘要', 'st.model': '模型',
    'st.highonly': '仅显示高风险', 'st.series': '序列 {n}', 'st.confirm': '确认',
    'st.reject': '否定', 'st.confirmStudy': '确认整个检查的发现', 'st.rejectStudy': '否定整个检查的发现',
    'st.comment': '备注（可选）', 'st.decisions': '审核记录', 'st.noDecisions': '尚无审核记录。',
    'st.open': '打开阅片器', 'st.decided': '已记录审核结果', 'st.noRights': '您的角色无权确认发现。',
    'st.reason': '原因', 'st.scopeStudy': '整个检查', 'st.risk': '风险 {r}',
    'st.na': '未分析', 'st.by': '{u}，{t}',
    'vw.back': '检查', 'vw.presets': '窗宽窗位', 'vw.default': '默认', 'vw.lung': '肺窗',
    'vw.bone': '骨窗', 'vw.soft': '软组织窗', 'vw.brain': '脑窗', 'vw.fit': '适应窗口',
    'vw.zoomIn': '放大', 'vw.zoomOut': '缩小', 'vw.invert': '反色',
    'vw.image': '图像 {i} / {n}', 'vw.frame': '帧 {f} / {n}',
    'vw.help': '拖动：窗宽窗位 · Shift+拖动或中键：平移 · 滚轮或 ↑↓：切换图像 · ←→：切换帧 · +/−：缩放 · F：适应窗口 · 1–5：预设 · I：反色',
    'vw.color': '彩色图像：显示服务器渲染结果，窗宽窗位不适用。',
    'vw.loading': '加载中…',
    'stats.title': '审核统计', 'stats.model': '模型', 'stats.version': '版本',
    'stats.analysed': '已分析图像', 'stats.high': '高风险判定', 'stats.confirmed': '已确认',
    'stats.rejected': '已否定', 'stats.undecided': '未审核', 'stats.rate': '确认率',
    'stats.turnaround': '周转时间（中位数 / 第 90 百分位）', 'stats.toAi': '接收 → AI',
    'stats.toViewed': 'AI → 阅片', 'stats.toConfirmed': '阅片 → 确认',
    'stats.total': '接收 → 确认', 'stats.none': '该时间段内没有 AI 结果。',
    'audit.title': '审计日志', 'audit.user': '用户', 'audit.export': '导出 CSV',
    'audit.at': '时间', 'audit.action': '操作', 'audit.object': '对象', 'audit.remote': '来源',
    'audit.detail': '详情',
    'err.forbidden': '您的角色无权执行此操作。', 'err.generic': '请求失败：{m}',
  },
};

let lang = localStorage.getItem('dxhub.lang') ||
  ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');

export function language() { return lang; }

export function setLanguage(l) {
  lang = text[l] ? l : 'en';
  localStorage.setItem('dxhub.lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/** The text for `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = text[lang][key] ?? text.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Fills every element with data-i18n under `root`. */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}
