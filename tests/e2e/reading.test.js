// Remote reading in a real browser (Debian's chromium, headless, playwright-core): clinic A's
// clinician requests a read; the hospital's radiologist claims it from the reading queue,
// confirms an AI finding, writes and signs the report; clinic A's clinician sees the signed
// report and its PDF, and shares it by a link that opens without an account until revoked;
// clinic B's clinician sees nothing of it. Run by
// tests/integration/test_reading.py, which passes what to expect in DXHUB_E2E (JSON).

'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.env.DXHUB_E2E);

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

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  // One browser context per person: separate cookies, as on separate machines.
  async function as(user) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-GB' });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${user}: ${e.message}`));
    await page.goto(`${cfg.url}/#/login`);
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', cfg.password);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('table.worklist');
    return page;
  }
  const shot = (page, name) => page.screenshot({ path: path.join(cfg.screenshots, `${name}.png`), fullPage: true });
  const study = `${cfg.url}/#/study/${cfg.study}`;

  const clinicA = await as(cfg.clinicA);
  await step('clinic A requests a read from the study page', async () => {
    await clinicA.goto(study);
    await clinicA.waitForSelector('.reading-panel form.request-read');
    await clinicA.selectOption('.reading-panel select[name=priority]', 'urgent');
    await clinicA.fill('.reading-panel input[name=reason]', 'Cough for three weeks');
    await clinicA.click('.reading-panel form.request-read button[type=submit]');
    await clinicA.waitForSelector('.reading-panel .request.status-requested');
    assert.match(await clinicA.textContent('.reading-panel .request'), /Urgent.*Waiting for a reader.*Clinic A/s);
    await shot(clinicA, 'reading-01-requested');
  });

  const clinicB = await as(cfg.clinicB);
  await step('clinic B sees nothing of it', async () => {
    await Promise.all([
      clinicB.waitForResponse((r) => r.url().includes('/api/read-requests?') && r.ok()),
      clinicB.goto(`${cfg.url}/#/reading`)]);
    await clinicB.waitForSelector('#view h1');
    assert.equal(await clinicB.locator(`tr[data-study="${cfg.study}"]`).count(), 0);
    await clinicB.goto(study);
    await clinicB.waitForSelector('#view .error');
    assert.equal(await clinicB.locator('.reading-panel').count(), 0);
    const reports = await clinicB.request.get(`${cfg.url}/api/studies/${cfg.study}/reports`);
    assert.equal(reports.status(), 404);
  });

  const radiologist = await as(cfg.reader);
  await step('the hospital radiologist claims it from the reading queue', async () => {
    await radiologist.goto(`${cfg.url}/#/reading`);
    const row = radiologist.locator(`table.reading tr[data-study="${cfg.study}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /Urgent.*Clinic A.*Cough for three weeks.*due in/s);
    await shot(radiologist, 'reading-02-queue');
    await row.locator('button.claim').click();
    await radiologist.waitForURL(/#\/study\//);
    await radiologist.waitForSelector('.reading-panel .request.status-claimed');
    await radiologist.waitForSelector('.reading-panel form.report-editor');
  });

  await step('confirms an AI finding, writes and signs the report', async () => {
    await radiologist.locator(`figure[data-sop="${cfg.sop}"] button.confirm`).click();
    await radiologist.waitForSelector(`figure[data-sop="${cfg.sop}"].decided-confirm`);
    await radiologist.waitForSelector('.reading-panel form.report-editor');
    await radiologist.fill('.reading-panel textarea[name=findings]', 'Patchy opacity in the right lower zone.\n右下肺斑片影。');
    await radiologist.fill('.reading-panel textarea[name=impression]', 'Right lower lobe pneumonia.');
    await radiologist.click('.reading-panel button.save');
    await radiologist.waitForSelector('.reading-panel .saved:not(:empty)');
    await radiologist.click('.reading-panel button.sign');
    await radiologist.waitForSelector('.reading-panel article.report[data-version="1"]');
    assert.equal(await radiologist.locator('.reading-panel .request.status-signed').count(), 1);
    await shot(radiologist, 'reading-03-signed');
  });

  await step('clinic A sees the signed report and its PDF', async () => {
    await clinicA.goto(`${cfg.url}/#/worklist`);
    await clinicA.goto(study);
    const report = clinicA.locator('.reading-panel article.report[data-version="1"]');
    await report.waitFor();
    assert.match(await report.textContent(), /右下肺斑片影.*Right lower lobe pneumonia\./s);
    assert.match(await report.textContent(), new RegExp(`signed by ${cfg.reader}`));
    const href = await report.locator('a.pdf').getAttribute('href');
    const pdf = await clinicA.request.get(`${cfg.url}${href}`);
    assert.equal(pdf.status(), 200);
    assert.equal(pdf.headers()['content-type'], 'application/pdf');
    assert.equal((await pdf.body()).subarray(0, 5).toString(), '%PDF-');
    await shot(clinicA, 'reading-04-clinic-sees-report');
  });

  await step('a share link opens the study without an account until it is revoked', async () => {
    await clinicA.fill('.share-panel input[name=access_code]', '2468');
    await clinicA.fill('.share-panel input[name=recipient]', 'the patient');
    await clinicA.click('.share-panel form.share-link button[type=submit]');
    const url = (await clinicA.locator('.share-panel .new-link').textContent()).trim();
    assert.match(url, /\/share\/[0-9a-f]{64}$/);
    const outsider = await (await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: 'en-GB' })).newPage();
    outsider.on('pageerror', (e) => errors.push(`outsider: ${e.message}`));
    await outsider.goto(url);
    await outsider.fill('form.share-code input[name=access_code]', '1111');
    await outsider.click('form.share-code button[type=submit]');
    await outsider.waitForSelector('form.share-code .error:not(:empty)');
    await outsider.fill('form.share-code input[name=access_code]', '2468');
    await outsider.click('form.share-code button[type=submit]');
    await outsider.waitForFunction(() => {
      const img = document.querySelector('img.shared-image');
      return img && img.complete && img.naturalWidth > 0;
    });
    assert.match(await outsider.textContent('.shared-report'), /Right lower lobe pneumonia\./);
    await outsider.click('.shared-viewer button.next');
    await outsider.waitForFunction(() => document.querySelector('.shared-viewer .caption').textContent.includes('2 / 2'));
    await shot(outsider, 'reading-05-shared-viewer');

    await clinicA.goto(`${cfg.url}/#/worklist`);
    await clinicA.goto(study);
    const link = clinicA.locator('.share-panel li[data-id]:not(.revoked)');
    await link.locator('button.revoke').click();
    await clinicA.waitForSelector('.share-panel li.revoked');
    await outsider.reload();
    await outsider.waitForSelector('p.gone');
    assert.match(await outsider.textContent('p.gone'), /withdrawn/);
  });

  await step('the statistics page shows turnaround per clinic', async () => {
    await radiologist.goto(`${cfg.url}/#/stats`);
    const line = radiologist.locator('table.turnaround tr[data-institution="Clinic A"]');
    await line.waitFor();
    const cells = await line.locator('td').allTextContents();
    assert.equal(cells[0], 'Clinic A');
    assert.ok(Number(cells[2]) >= 1, `signed: ${cells}`);
    await shot(radiologist, 'reading-06-turnaround');
  });

  await step('clinic B still sees nothing', async () => {
    const pdf = await clinicB.request.get(`${cfg.url}/api/studies/${cfg.study}/reports/1/pdf`);
    assert.equal(pdf.status(), 404);
    const queue = await clinicB.request.get(`${cfg.url}/api/read-requests?status=all`);
    assert.ok(!(await queue.text()).includes(cfg.study));
  });

  assert.deepEqual(errors, []);
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
