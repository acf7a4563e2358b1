// The doctors' web app in a real browser: Debian's chromium, headless, driven by playwright-core.
// Run by tests/integration/test_web.py, which starts dxhub, creates the users, sends the studies
// and passes what to expect in DXHUB_E2E (JSON). Screenshots go to DXHUB_E2E.screenshots.

'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.env.DXHUB_E2E);
const RED_ROW = 'rgb(58, 21, 23)';  // --red-bg in web/app.css

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    console.log(`FAIL ${name}`);
    throw e;
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(cfg.screenshots, `${name}.png`), fullPage: true });
}

async function login(page, user, password) {
  await page.goto(`${cfg.url}/#/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('form.login button[type=submit]');
}

function row(page, uid) {
  return page.locator(`table.worklist tbody tr[data-uid="${uid}"]`);
}

// The worklist shows only open studies by default; "Any" shows them all.
// Sets the status filter to "any" and waits for the worklist answer that has it (no fixed sleep:
// a poll's load may be in flight when the filter changes).
async function showAllStudies(page) {
  const answered = page.waitForResponse((r) => r.url().includes('/api/worklist?')
    && !new URL(r.url()).searchParams.has('status') && r.ok());
  await page.selectOption('select[name=status]', '');
  await answered;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Over HTTPS (through nginx): trust the test's own certificate, and nothing else.
      ...(cfg.spki ? [`--ignore-certificate-errors-spki-list=${cfg.spki}`] : [])],
  });
  const errors = [];
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'en-GB' });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    return page;
  };
  const { doctor, viewer, admin } = cfg.users;
  const page = await newPage();

  await step('a wrong password is refused with a message', async () => {
    await login(page, doctor.user, 'not the password');
    await page.waitForSelector('form.login .error:not(:empty)');
    assert.match(await page.textContent('form.login .error'), /wrong username or password/);
    await shot(page, '01-login-refused');
  });

  await step('the right password opens the worklist with the high-risk study in red', async () => {
    await login(page, doctor.user, doctor.password);
    await page.waitForSelector('table.worklist');
    const cr = row(page, cfg.crStudy);
    await cr.waitFor();
    assert.equal(await cr.evaluate((el) => getComputedStyle(el).backgroundColor), RED_ROW);
    const badges = await cr.locator('.badge').allTextContents();
    assert.deepEqual(badges.map(Number), [0, 2, 0, 0]);  // normal, high, failed, pending
    assert.equal(await cr.locator('td.num').textContent(), '2');
    assert.equal(await cr.locator('.chip').first().textContent(), 'Awaiting confirmation');
    assert.equal(await cr.locator('.institution').textContent(), cfg.institution);
    if (cfg.url.startsWith('https:')) {
      const session = (await page.context().cookies()).find((c) => c.name === 'dxhub_session');
      assert.equal(session.secure, true);
      assert.equal(session.httpOnly, true);
      console.log('over HTTPS: the session cookie is Secure and HttpOnly');
    }
  });

  const { ctStudy } = cfg;
  await step('a study sent by storescu appears live, with its counts once the AI ran', async () => {
    const before = await page.locator('table.worklist tbody tr[data-uid]').count();
    const [cmd, ...args] = cfg.ctStorescu;
    const sender = spawn(cmd, args, { stdio: 'ignore' });
    const sent = new Promise((resolve, reject) => sender.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`storescu exited ${code}`)))));
    // No reload: the page polls the change stamp and redraws on its own.
    await page.waitForFunction((n) => document.querySelectorAll('table.worklist tbody tr[data-uid]').length > n, before, { timeout: 60000 });
    await sent;
    await row(page, ctStudy).waitFor();
    await page.waitForFunction((uid) => {
      const tr = document.querySelector(`tr[data-uid="${uid}"]`);
      return tr && [...tr.querySelectorAll('.badge')].map((b) => b.textContent).join(',') === `${20},0,0,0`;
    }, ctStudy, { timeout: 120000 });
    assert.equal(await row(page, ctStudy).locator('td.num').textContent(), '20');
    // Both name groups: alphabetic and ideographic (UTF-8 dataset).
    assert.equal(await row(page, ctStudy).locator('.patient').textContent(), 'LI, HUA (李华)');
    assert.notEqual(await row(page, ctStudy).evaluate((el) => getComputedStyle(el).backgroundColor), RED_ROW);
    // The riskiest study stays on top.
    assert.equal(await page.locator('table.worklist tbody tr').first().getAttribute('data-uid'), cfg.crStudy);
    await shot(page, '02-worklist');
  });

  await step('filters narrow the worklist', async () => {
    await page.selectOption('select[name=risk]', 'high');
    await page.waitForFunction(() => document.querySelectorAll('table.worklist tbody tr[data-uid]').length === 1);
    assert.equal(await page.locator('table.worklist tbody tr[data-uid]').getAttribute('data-uid'), cfg.crStudy);
    await page.selectOption('select[name=risk]', '');
    await page.fill('input[name=q]', 'nobody-by-this-name');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('td.empty');
    await page.click('form.filters button[type=button]');  // clear
    await row(page, cfg.crStudy).waitFor();
  });

  await step('the viewer windows by drag and presets, and scrolls through the CT series', async () => {
    await row(page, ctStudy).click();
    await page.waitForSelector('.grid figure.mark-normal');
    assert.equal(await page.locator('.grid figure').count(), 20);
    await page.locator('.grid figure a').first().click();
    const canvas = page.locator('canvas.viewport[data-ready="1"]');
    await canvas.waitFor();
    const initial = await canvas.getAttribute('data-window');
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 5 });
    await page.mouse.up();
    assert.notEqual(await canvas.getAttribute('data-window'), initial);
    assert.match(await page.textContent('.ov.tl'), /LI, HUA \(李华\)/);
    await page.keyboard.press('4');  // soft-tissue preset
    assert.equal(await canvas.getAttribute('data-window'), '40,400');
    await shot(page, '03-viewer-ct-soft-tissue');
    await page.mouse.wheel(0, 120);
    await page.waitForSelector('canvas.viewport[data-index="2"][data-ready="1"]');
    await page.keyboard.press('ArrowDown');
    await page.waitForSelector('canvas.viewport[data-index="3"][data-ready="1"]');
    await page.keyboard.press('2');  // lung preset
    assert.equal(await canvas.getAttribute('data-window'), '-600,1500');
    // The picture is not blank: the windowed slice has both dark and bright pixels.
    const spread = await page.evaluate(() => {
      const c = document.querySelector('canvas.viewport');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let lo = 255; let hi = 0;
      for (let i = 0; i < d.length; i += 4 * 97) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
      return hi - lo;
    });
    assert.ok(spread > 100, `windowed image looks flat (spread ${spread})`);
    await shot(page, '04-viewer-ct-lung-slice3');
  });

  await step('bone removal runs as a job from the study page and adds its derived series', async () => {
    await page.goto(`${cfg.url}/#/study/${ctStudy}`);
    const panel = page.locator('.processing').first();
    await panel.locator('select[name=operation]').selectOption('bone');
    await panel.locator('select[name=preset]').selectOption('plain');
    await panel.locator('button.run').click();
    // Progress is shown while it runs, then the result with its files.
    await panel.locator('li.job[data-state="done"]').waitFor({ timeout: 120000 });
    const done = panel.locator('li.job[data-state="done"]').first();
    assert.match(await done.textContent(), /bone ml: \d+/);
    const link = done.locator('a.file');
    assert.equal(await link.textContent(), 'bone-free-coronal-mip.png');
    const png = await page.evaluate(async (href) => {
      const r = await fetch(href);
      return [r.status, r.headers.get('content-type')];
    }, await link.getAttribute('href'));
    assert.deepEqual(png, [200, 'image/png']);
    await shot(page, '07-study-ct-bone-removal-done');
    await done.locator('a', { hasText: /show|显示/ }).click();
    await page.waitForSelector('h3.series-head:has-text("Bone removed (dxhub)")');
    await page.waitForSelector('h3.series-head:has-text("Bone mask (dxhub)")');
    await shot(page, '08-study-ct-derived-series');
  });

  await step('the viewer steps through the frames of a 96-frame angiogram', async () => {
    const [study, series, sop] = cfg.xa;
    await page.goto(`${cfg.url}/#/viewer/${study}/${series}/${sop}`);
    const canvas = page.locator('canvas.viewport[data-ready="1"]');
    await canvas.waitFor();
    assert.equal(await canvas.getAttribute('data-frame'), '1');
    assert.match(await page.textContent('.ov.bl'), /Frame 1 \/ 96/);
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('canvas.viewport[data-frame="2"][data-ready="1"]');
    for (let i = 0; i < 38; i++) await page.keyboard.press('ArrowRight');
    await page.waitForSelector('canvas.viewport[data-frame="40"][data-ready="1"]');
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    await shot(page, '06-viewer-xa-frame40-zoomed');
    await page.keyboard.press('f');
  });

  await step('the viewer shows the high-risk finding on the chest CR', async () => {
    await page.goto(`${cfg.url}/#/study/${cfg.crStudy}`);
    await page.waitForSelector('.grid figure.mark-high');
    assert.equal(await page.locator('.grid figure.mark-high').count(), 2);
    await shot(page, '05-study-cr');
    await page.locator('.grid figure a').first().click();
    await page.waitForSelector('canvas.viewport[data-ready="1"]');
    assert.match(await page.textContent('.ov.tr'), /high-risk/);
    await shot(page, '06-viewer-cr-finding');
  });

  await step('a radiologist confirms one finding and rejects the other', async () => {
    await page.goto(`${cfg.url}/#/study/${cfg.crStudy}`);
    await page.waitForSelector('.grid figure.mark-high');
    await page.fill('.study-actions textarea', '右肺上叶结节，建议 CT 复查');
    await page.locator(`figure[data-sop="${cfg.crSops[0]}"] button.confirm`).click();
    await page.waitForSelector(`figure[data-sop="${cfg.crSops[0]}"].decided-confirm`);
    await page.locator(`figure[data-sop="${cfg.crSops[1]}"] button.reject`).click();
    await page.waitForSelector(`figure[data-sop="${cfg.crSops[1]}"].decided-reject`);
    assert.equal(await page.textContent('.page-head .chip'), 'Confirmed');
    assert.match(await page.textContent('ul.decisions'), /右肺上叶结节/);
    await shot(page, '07-study-decided');
    await page.goto(`${cfg.url}/#/worklist`);
    await page.waitForSelector('table.worklist');
    await showAllStudies(page);
    const cr = row(page, cfg.crStudy);
    await cr.waitFor();
    assert.equal(await cr.locator('.chip').first().textContent(), 'Confirmed');
    // Decided: no longer red (awaiting), but a confirmed finding keeps a red edge.
    assert.notEqual(await cr.evaluate((el) => getComputedStyle(el).backgroundColor), RED_ROW);
    assert.equal(await cr.evaluate((el) => el.classList.contains('confirmed-risk')), true);
    await shot(page, '08-worklist-reviewed');
  });

  await step('the statistics page counts the confirmation and the rejection', async () => {
    await page.click('header nav a[href="#/stats"]');
    const model = page.locator('table.stats tr[data-model="brightness-reference@1.0.0"]');
    await model.waitFor();
    const cells = await model.locator('td').allTextContents();
    // 20 CT slices, 2 chest CRs and the angiogram were analysed; the two CRs were high-risk.
    assert.deepEqual(cells.slice(0, 8), ['brightness-reference', '1.0.0', '23', '2', '1', '1', '0', '50%']);
    await shot(page, '09-statistics');
  });

  await step('the Chinese interface', async () => {
    await page.click('#lang');
    await page.click('header nav a[href="#/worklist"]');
    await page.waitForSelector('table.worklist');
    assert.equal(await page.textContent('.page-head h1'), '工作列表');
    await showAllStudies(page);
    await shot(page, '10-worklist-zh');
    await page.click('#lang');
  });

  await step('logout ends the session', async () => {
    await page.click('#logout');
    await page.waitForSelector('form.login');
    const status = await page.evaluate(async () => (await fetch('/api/me')).status);
    assert.equal(status, 401);
    await page.goto(`${cfg.url}/#/study/${cfg.crStudy}`);
    await page.waitForSelector('form.login');
  });

  await step('a viewer may look but not confirm', async () => {
    const p = await newPage();
    await login(p, viewer.user, viewer.password);
    await p.waitForSelector('table.worklist');
    await p.goto(`${cfg.url}/#/study/${cfg.crStudy}`);
    await p.waitForSelector('.grid figure.mark-high');
    assert.equal(await p.locator('button.confirm, button.reject').count(), 0);
    // Calling the API directly from the page does not help either.
    const status = await p.evaluate(async ([uid, sop]) => {
      const me = await (await fetch('/api/me')).json();
      const res = await fetch(`/api/studies/${uid}/decisions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: JSON.stringify({ verdict: 'reject', sop_instance_uid: sop }),
      });
      return res.status;
    }, [cfg.crStudy, cfg.crSops[0]]);
    assert.equal(status, 403);
    await shot(p, '11-study-as-viewer');
  });

  await step('an administrator browses the audit log', async () => {
    const p = await newPage();
    await login(p, admin.user, admin.password);
    await p.waitForSelector('table.worklist');
    await p.click('header nav a[href="#/audit"]');
    await p.waitForSelector('table.audit tbody tr');
    const text = await p.textContent('table.audit');
    assert.match(text, /decision\.confirm/);
    assert.match(text, /decision\.reject/);
    assert.match(text, new RegExp(doctor.user));
    await shot(p, '12-audit');
  });

  await step('an administrator sees this node on the cluster page', async () => {
    const p = await newPage();
    await login(p, admin.user, admin.password);
    await p.waitForSelector('table.worklist');
    await p.click('header nav a[href="#/cluster"]');
    await p.waitForSelector('table.cluster tbody tr.alive');
    const row = p.locator('table.cluster tbody tr.alive').first();
    assert.match(await row.textContent(), /this node/);
    assert.match(await p.textContent('#cluster-summary'), /1 of 1 nodes alive/);
    assert.equal(await p.locator('.cluster-queues .queue').count(), 2);
    await shot(p, '13-cluster');

    // The peer directory: add a DICOM node (this dxhub's own SCP), test it, remove it.
    await p.selectOption('form.add-peer select[name=kind]', 'dicom');
    await p.fill('form.add-peer input[name=name]', 'loopback-scp');
    await p.fill('form.add-peer input[name=aet]', cfg.dicom.aet);
    await p.fill('form.add-peer input[name=host]', '127.0.0.1');
    await p.fill('form.add-peer input[name=port]', String(cfg.dicom.port));
    const added = p.waitForResponse((r) => r.url().endsWith('/api/peers') && r.request().method() === 'POST');
    await p.click('form.add-peer button[type=submit]');
    assert.equal((await added).status(), 201);
    const peer = p.locator('table.peers tr[data-peer="loopback-scp"]');
    await peer.waitFor();
    assert.match(await peer.textContent(), /database/);
    assert.match(await peer.textContent(), new RegExp(`${cfg.dicom.aet}@127\\.0\\.0\\.1:${cfg.dicom.port}`));
    await peer.locator('button.test').click();
    await peer.locator('.echo-result.ok').waitFor();
    await shot(p, '14-peers');
    p.once('dialog', (d) => d.accept());
    const removed = p.waitForResponse((r) => r.url().endsWith('/api/peers/loopback-scp') && r.request().method() === 'DELETE');
    await peer.locator('button.remove').click();
    assert.equal((await removed).status(), 200);
    await peer.waitFor({ state: 'detached' });
    // Not for other roles: the link is hidden and the API refuses.
    const v = await newPage();
    await login(v, viewer.user, viewer.password);
    await v.waitForSelector('table.worklist');
    assert.equal(await v.locator('header nav a[href="#/cluster"]').isVisible(), false);
    const status = await v.evaluate(async () => (await fetch('/api/cluster')).status);
    assert.equal(status, 403);
  });

  assert.deepEqual(errors, [], 'uncaught errors in the pages');
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
