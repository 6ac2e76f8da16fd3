import { CloudWatchLogsClient, paginateFilterLogEvents } from '@aws-sdk/client-cloudwatch-logs';
import { commonConfig, type CloudClientOptions } from './clients.js';

/** One CloudWatch Logs event: which log group it is in, when, and the line the function wrote. */
export interface LogEvent {
  readonly logGroup: string;
  readonly timestamp: number;
  readonly message: string;
}

export interface LogSearch {
  readonly logGroups: readonly string[];
  /** A CloudWatch Logs filter pattern, e.g. `"my-experiment"` (a quoted term matches events containing it). */
  readonly filterPattern: string;
  /** Epoch milliseconds; default: everything the groups still hold. */
  readonly startTime?: number;
  /** Stop after this many events in all (default 10,000), so a pattern that matches everything still ends. */
  readonly limit?: number;
}

export class LogSearchError extends Error {
  override name = 'LogSearchError';
}

export function createLogsClient(options: CloudClientOptions = {}, env: Readonly<Record<string, string | undefined>> = process.env): CloudWatchLogsClient {
  return new CloudWatchLogsClient(commonConfig(options, 'CLOUDWATCH_LOGS', env));
}

/** FilterLogEvents over each log group (all pages), merged and ordered by time. */
export async function searchLogEvents(client: CloudWatchLogsClient, search: LogSearch): Promise<{ events: LogEvent[]; truncated: boolean }> {
  const limit = search.limit ?? 10_000;
  const events: LogEvent[] = [];
  let truncated = false;
  for (const logGroup of search.logGroups) {
    try {
      const pages = paginateFilterLogEvents(
        { client },
        { logGroupName: logGroup, filterPattern: search.filterPattern, ...(search.startTime !== undefined ? { startTime: search.startTime } : {}) },
      );
      for await (const page of pages) {
        for (const event of page.events ?? []) {
          if (event.timestamp === undefined || event.message === undefined) continue;
          events.push({ logGroup, timestamp: event.timestamp, message: event.message });
        }
        if (events.length >= limit) {
          truncated = true;
          break;
        }
      }
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new LogSearchError(`CloudWatch Logs FilterLogEvents on ${logGroup} failed (${reason})`, { cause: error });
    }
    if (truncated) break;
  }
  events.sort((a, b) => a.timestamp - b.timestamp);
  return { events: events.slice(0, limit), truncated };
}
