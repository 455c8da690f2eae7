import { ThunderboltOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, DatePicker, Form, InputNumber, Modal, Progress, Typography } from 'antd';
import type { Dayjs } from 'dayjs';
import { useEffect, useRef, useState } from 'react';

import { ApiError } from '../api';
import { asError, useErrorText } from '../errors';
import { useFieldErrors, wholeNumberRule } from '../forms';
import { shiftDay } from './board';
import { MAX_TIME_LIMIT, MIN_TIME_LIMIT, progressFraction } from './dispatch';
import DispatchResult from './DispatchResult';
import { SEED_BOUNDS, WALL_CLOCK, wallClock, wallClockInstant } from './forms';
import { useText } from './messages';
import { refreshDay, runDispatch } from './queries';
import type { DispatchSummary } from './types';

interface Values {
  start: Dayjs;
  end: Dayjs;
  time_limit: number;
  seed: number | null;
}

type State =
  | { phase: 'form' }
  | { phase: 'running'; started: number; limit: number }
  | { phase: 'done'; summary: DispatchSummary }
  | { phase: 'refused'; error: Error };

/** Progress against the time limit while the engine works: the bar and "n s of m s". */
function Running({ started, limit }: { started: number; limit: number }) {
  const { t } = useText();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(timer);
  }, []);
  const elapsed = now - started;
  return (
    <div data-testid="dispatch-progress">
      <Typography.Paragraph>{t('dispatch.running')}</Typography.Paragraph>
      <Progress percent={Math.floor(progressFraction(elapsed, limit) * 100)} status="active" />
      <Typography.Text type="secondary" data-testid="dispatch-elapsed">
        {t('dispatch.elapsed', { elapsed: (elapsed / 1000).toFixed(1), limit })}
      </Typography.Text>
    </div>
  );
}

/** The dispatch button and its dialog: the window and limits, progress while it runs, then the result. */
export default function DispatchPanel({ day }: { day: string }) {
  const { t } = useText();
  const { message } = App.useApp();
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [state, setState] = useState<State>({ phase: 'form' });
  const [form] = Form.useForm<Values>();
  const describe = useErrorText();
  useFieldErrors(form, open && (state.phase === 'form' || state.phase === 'refused'));
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  const show = () => {
    form.setFieldsValue({
      start: wallClock(day, '00:00'),
      end: wallClock(shiftDay(day, 1), '00:00'),
      time_limit: 10,
      seed: 0,
    });
    setState({ phase: 'form' });
    setOpen(true);
  };

  const submit = async (values: Values) => {
    // Whole seconds within the bounds: the form's rule has refused anything else, as typed.
    const limit = values.time_limit;
    setState({ phase: 'running', started: Date.now(), limit });
    // The run is listed as running as soon as it holds its window.
    const listed = setTimeout(() => void client.invalidateQueries({ queryKey: ['runs'] }), 500);
    try {
      const summary = await runDispatch({
        start: wallClockInstant(values.start),
        end: wallClockInstant(values.end),
        time_limit: limit,
        seed: values.seed ?? 0,
      });
      if (mounted.current) setState({ phase: 'done', summary });
    } catch (error) {
      const detail = describe(error);
      if (error instanceof ApiError && error.status === 409) {
        message.error(t('dispatch.refused', { detail }));
      } else {
        message.error(t('dispatch.failed', { detail }));
      }
      if (mounted.current) setState({ phase: 'refused', error: asError(error) });
    } finally {
      clearTimeout(listed);
      void refreshDay(client);
      void client.invalidateQueries({ queryKey: ['runs'] });
    }
  };

  const running = state.phase === 'running';
  return (
    <>
      <Button type="primary" icon={<ThunderboltOutlined />} onClick={show} data-testid="dispatch-open">
        {t('dispatch.open')}
      </Button>
      <Modal
        open={open}
        title={t('dispatch.title')}
        width={760}
        onCancel={() => !running && setOpen(false)}
        closable={!running}
        mask={{ closable: !running }}
        destroyOnHidden
        footer={
          state.phase === 'form' || state.phase === 'refused' ? (
            <Button type="primary" onClick={() => form.submit()} data-testid="dispatch-submit">
              {t('dispatch.submit')}
            </Button>
          ) : (
            <Button disabled={running} onClick={() => setOpen(false)} data-testid="dispatch-close">
              {t('dispatch.close')}
            </Button>
          )
        }
      >
        <div data-testid="dispatch-dialog">
          {(state.phase === 'form' || state.phase === 'refused') && (
            <Form<Values> form={form} layout="vertical" onFinish={(values) => void submit(values)} preserve>
              {state.phase === 'refused' && (
                <Alert
                  type="error"
                  showIcon
                  title={describe(state.error)}
                  style={{ marginBottom: 16 }}
                  data-testid="dispatch-refused"
                />
              )}
              <Form.Item name="start" label={t('dispatch.start')} rules={[{ required: true }]}>
                <DatePicker showTime={{ format: 'HH:mm' }} format={WALL_CLOCK} data-testid="dispatch-start" />
              </Form.Item>
              <Form.Item
                name="end"
                label={t('dispatch.end')}
                dependencies={['start']}
                rules={[
                  { required: true },
                  ({ getFieldValue }) => ({
                    validator: (_, value: Dayjs | null) => {
                      const start = getFieldValue('start') as Dayjs | null;
                      return !value || !start || value.isAfter(start)
                        ? Promise.resolve()
                        : Promise.reject(new Error(t('dispatch.windowEnds')));
                    },
                  }),
                ]}
              >
                <DatePicker showTime={{ format: 'HH:mm' }} format={WALL_CLOCK} data-testid="dispatch-end" />
              </Form.Item>
              <Form.Item
                name="time_limit"
                label={t('dispatch.timeLimit')}
                rules={[
                  { required: true, message: t('dispatch.required') },
                  wholeNumberRule(
                    MIN_TIME_LIMIT,
                    MAX_TIME_LIMIT,
                    t('dispatch.timeLimitRange', { min: MIN_TIME_LIMIT, max: MAX_TIME_LIMIT }),
                  ),
                ]}
              >
                {/* No min/max/precision: they would clamp or round what was typed (see wholeNumberRule). */}
                <InputNumber step={1} data-testid="dispatch-time-limit" />
              </Form.Item>
              <Form.Item
                name="seed"
                label={t('dispatch.seed')}
                rules={[wholeNumberRule(SEED_BOUNDS.min, SEED_BOUNDS.max, t('dispatch.seedRange', SEED_BOUNDS))]}
              >
                <InputNumber step={1} data-testid="dispatch-seed" />
              </Form.Item>
            </Form>
          )}
          {state.phase === 'running' && <Running started={state.started} limit={state.limit} />}
          {state.phase === 'done' && (
            <>
              <Typography.Title level={5}>{t('dispatch.result', { run: state.summary.run_id ?? '' })}</Typography.Title>
              <DispatchResult summary={state.summary} />
            </>
          )}
        </div>
      </Modal>
    </>
  );
}
