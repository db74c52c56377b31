// CarePath's search attributes (workflows/search-attributes.ts) on a Temporal namespace. A workflow that
// sets an attribute the namespace does not know fails its workflow task, again and again, until it is
// registered: `npm start` registers them on its dev server, and a worker on a cluster refuses to start
// while one is missing, printing the `temporal operator search-attribute create` commands.
import { TypedSearchAttributes } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

type Key = (typeof SEARCH_ATTRIBUTES)[number];

/** Adds `keys` to the namespace (each must be new to it). */
export async function addSearchAttributes(connection: Connection, namespace: string, keys: readonly Key[] = SEARCH_ATTRIBUTES): Promise<void> {
  if (keys.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(keys.map((k) => [k.name, encodeSearchAttributeIndexedValueType(k.type)!])),
  });
}

/** CarePath's attributes the namespace lacks, and those it has with another type (which cannot be changed). */
export async function checkSearchAttributes(connection: Connection, namespace: string): Promise<{ missing: Key[]; mistyped: string[] }> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing: Key[] = [];
  const mistyped: string[] = [];
  for (const key of SEARCH_ATTRIBUTES) {
    const type = customAttributes?.[key.name];
    if (type === undefined || type === null) missing.push(key);
    else if (type !== encodeSearchAttributeIndexedValueType(key.type)) mistyped.push(`${key.name} is not ${TypedSearchAttributes.toMetadataType(key.type)}`);
  }
  return { missing, mistyped };
}

/**
 * Registers the attributes the namespace lacks; returns their names. The dev server registers its
 * `--search-attribute` flags only when it creates its database, so a `.data/` from before an attribute
 * existed gets it here.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { missing, mistyped } = await checkSearchAttributes(connection, namespace);
  if (mistyped.length > 0) throw new Error(`search attributes of another type: ${mistyped.join('; ')}`);
  await addSearchAttributes(connection, namespace, missing);
  return missing.map((k) => k.name);
}

/** The CLI commands that register `keys` on a cluster (README, "Finding journeys in the Temporal UI"). */
export function searchAttributeCommands(namespace: string, keys: readonly Key[] = SEARCH_ATTRIBUTES): string[] {
  return keys.map((k) => `temporal operator search-attribute create --namespace ${namespace} --name ${k.name} --type ${TypedSearchAttributes.toMetadataType(k.type)}`);
}

/**
 * Why a worker on a cluster must not start: CarePath's attributes the namespace lacks (with the commands
 * that register them) or has with another type. A server that does not let this connection list them
 * (a restricted API key) is not second-guessed: a warning, and the worker starts.
 */
export async function searchAttributesProblem(connection: Connection, namespace: string, log: Logger): Promise<string | undefined> {
  let found: Awaited<ReturnType<typeof checkSearchAttributes>>;
  try {
    found = await checkSearchAttributes(connection, namespace);
  } catch (err) {
    log.warn({ err, namespace }, 'search attributes not checked: listing them was refused');
    return undefined;
  }
  if (found.mistyped.length > 0) return `namespace ${namespace} has search attributes of another type: ${found.mistyped.join('; ')}`;
  if (found.missing.length === 0) return undefined;
  return [`namespace ${namespace} lacks CarePath's search attributes; register them first:`, ...searchAttributeCommands(namespace, found.missing)].join('\n  ');
}
