import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import type { AppWarning } from '../../src/marathon/apps.js';
import { AppWarningLog, compareWarnings, countByApp } from '../../src/marathon/warning-log.js';
import { Metrics } from '../../src/metrics/metrics.js';

const bad = (appId: string, value: string): AppWarning => ({
  appId,
  portIndex: 0,
  label: 'MARATHON_ACME_0_DOMAIN',
  reason: 'invalid domain',
  message: `invalid domain '${value}' in label MARATHON_ACME_0_DOMAIN of app ${appId} (port 0) ignored`,
});
const range = (appId: string): AppWarning => ({ appId, portIndex: 2, label: 'MARATHON_ACME_2_DOMAIN', reason: 'port out of range', message: `label MARATHON_ACME_2_DOMAIN of app ${appId} is for port 2; ignored` });

describe('compareWarnings', () => {
  it('sorts the problems of a sync into appeared, changed, repeated and resolved', () => {
    const before = [bad('/a', 'x_y'), range('/b'), bad('/c', 'q_q')];
    const now = [bad('/a', 'x_y'), bad('/b', 'b_b'), bad('/c', 'r_r'), range('/d')];
    const changes = compareWarnings(before, now);
    assert.deepEqual(changes.repeated, [bad('/a', 'x_y')]);
    assert.deepEqual(changes.changed, [bad('/c', 'r_r')], 'same place, another value');
    assert.deepEqual(changes.appeared, [bad('/b', 'b_b'), range('/d')]);
    assert.deepEqual(changes.resolved, [range('/b')], "/b's out-of-range label is gone; /c's place still has a problem");
  });

  it('keeps two problems of one label apart by their message', () => {
    const changes = compareWarnings([bad('/a', 'one_')], [bad('/a', 'one_'), bad('/a', 'two_')]);
    assert.deepEqual(changes.repeated, [bad('/a', 'one_')]);
    assert.deepEqual(changes.changed, [bad('/a', 'two_')]);
  });

  it('counts problems per app', () => {
    assert.deepEqual([...countByApp([bad('/a', 'x_'), bad('/a', 'y_'), range('/b')])], [['/a', 2], ['/b', 1]]);
  });
});

describe('AppWarningLog', () => {
  function setup() {
    const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
    const logger = createLogger('debug', { write: (line: string) => { lines.push(JSON.parse(line) as { level: string; msg: string }); } });
    const metrics = new Metrics({ defaultMetrics: false });
    const log = new AppWarningLog({
      logger,
      onCounts: (perApp) => { metrics.setLabelProblems(perApp); },
      onWarned: (count) => { metrics.labelWarningsLogged(count); },
    });
    const levels = (): string[] => lines.splice(0).map((l) => `${l.level} ${String(l['appId'])}`);
    return { log, metrics, levels, lines };
  }

  it('warns once per problem over a day of syncs, says when it is gone, and keeps the gauge and counter in step', async () => {
    const { log, metrics, levels, lines } = setup();
    log.report([bad('/a', 'x_y')]);
    assert.deepEqual(levels(), ['warn /a']);
    for (let i = 0; i < 288; i++) log.report([bad('/a', 'x_y')]);
    const repeats = levels();
    assert.equal(repeats.length, 288);
    assert.ok(repeats.every((l) => l === 'debug /a'), 'repeats only at debug');
    log.report([bad('/a', 'x_z'), range('/b')]);
    assert.deepEqual(levels().sort(), ['warn /a', 'warn /b']);
    let text = await metrics.render();
    assert.match(text, /^marathon_acme_invalid_labels\{app_id="\/a"\} 1$/m);
    assert.match(text, /^marathon_acme_invalid_labels\{app_id="\/b"\} 1$/m);
    assert.match(text, /^marathon_acme_invalid_label_warnings_total 3$/m);

    log.report([range('/b')]);
    const gone = lines.splice(0).filter((l) => l.level !== 'debug');
    assert.deepEqual(gone.map((l) => [l.level, l['appId'], l['was']]), [['info', '/a', bad('/a', 'x_z').message]]);
    text = await metrics.render();
    assert.doesNotMatch(text, /app_id="\/a"/, 'a fixed app loses its series');
    assert.match(text, /^marathon_acme_invalid_label_warnings_total 3$/m);
    log.report([]);
    assert.deepEqual(levels(), ['info /b']);
    assert.doesNotMatch(await metrics.render(), /^marathon_acme_invalid_labels\{/m);
  });

  it('logs where and why with each warning, the message naming the value', () => {
    const { log, lines } = setup();
    log.report([bad('/a', 'x_y')]);
    const [line] = lines;
    assert.deepEqual(
      { level: line?.level, appId: line?.['appId'], portIndex: line?.['portIndex'], label: line?.['label'], reason: line?.['reason'], msg: line?.msg },
      { level: 'warn', appId: '/a', portIndex: 0, label: 'MARATHON_ACME_0_DOMAIN', reason: 'invalid domain', msg: bad('/a', 'x_y').message },
    );
  });
});
