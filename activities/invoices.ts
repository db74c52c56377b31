// Electronic invoices (电子发票, issue 13): issued by the database in the transaction that marks an
// order paid, voided (and reissued for what remains after a partial refund) in the one that marks it
// refunded (db/migrations/019_invoices.sql), whichever workflow or route marked it. Read here.
import type { Sql } from './db.js';
import { iso } from './db.js';

export interface InvoiceItem {
  kind: 'registration' | 'drug' | 'exam' | 'consultation' | 'remainder';
  code: string;
  name: string;
  quantity: number;
  unitPrice: number;
  amount: number;
}

export interface Invoice {
  id: string;
  number: string;
  orderId: string;
  status: 'issued' | 'voided';
  items: InvoiceItem[];
  /** Amounts by payer, fen: the patient's own part and medical insurance's. */
  payers: { self: number; insurance: number };
  amount: number;
  currency: 'CNY';
  channel?: string;
  issuedAt: string;
  voidedAt?: string;
  /** The invoice this one replaces (reissued after a partial refund). */
  replaces?: string;
}

interface InvoiceRow {
  id: string;
  number: string;
  order_id: string;
  status: Invoice['status'];
  items: InvoiceItem[];
  payers: Invoice['payers'];
  amount: number;
  channel: string | null;
  issued_at: Date;
  voided_at: Date | null;
  replaces: string | null;
}

const view = (r: InvoiceRow): Invoice => ({
  id: r.id,
  number: r.number,
  orderId: r.order_id,
  status: r.status,
  items: r.items,
  payers: r.payers,
  amount: r.amount,
  currency: 'CNY',
  ...(r.channel ? { channel: r.channel } : {}),
  issuedAt: iso(r.issued_at)!,
  ...(r.voided_at ? { voidedAt: iso(r.voided_at)! } : {}),
  ...(r.replaces ? { replaces: r.replaces } : {}),
});

/** A patient's invoices, newest first (voided ones included). */
export async function patientInvoices(sql: Sql, patientId: string, limit: number): Promise<Invoice[]> {
  const rows = await sql<InvoiceRow[]>`select * from invoices where patient_id = ${patientId} order by issued_at desc, number desc limit ${limit}`;
  return rows.map(view);
}
