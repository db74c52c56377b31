// Moving the time-skipping server's clock, which starts at the real time, to a known time of day, so
// that tests of daily schedules do not depend on the hour they run at.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';

/** Sleeps the test server until the next `hour`:00 in `zone` (02:00 Shanghai: before every dose time). */
export async function sleepUntilHour(env: TestWorkflowEnvironment, hour = 2, zone = 'Asia/Shanghai'): Promise<void> {
  const now = await env.currentTimeMs();
  const today = DateTime.fromMillis(now, { zone }).startOf('day').plus({ hours: hour });
  const target = today.toMillis() > now ? today : today.plus({ days: 1 });
  await env.sleep(target.toMillis() - now);
}
