-- Issue 13: completed layanan change the record, and two histories join the record's view
-- (izin_belajar: study permits; ujian: ujian dinas, UPKP and KP Pembina passes). Rows of the
-- employees projection written before hold no such keys; a replay of the log gives them empty,
-- so the stored rows are brought to what a replay gives (projection check stays clean).
UPDATE {schema}.employees
   SET record = jsonb_set(record, '{histories}',
                          '{"izin_belajar": [], "ujian": []}'::jsonb || (record -> 'histories'))
 WHERE NOT (record -> 'histories' ? 'izin_belajar' AND record -> 'histories' ? 'ujian');
