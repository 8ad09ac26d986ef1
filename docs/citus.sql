-- From one PostgreSQL to Citus: runs distributed by pipeline_id; clients, pipelines and alert
-- rules as reference tables (docs/scaling.md explains each step).
--
-- Run on the Citus coordinator, during a maintenance window (gunicorn stopped), after
-- `CREATE EXTENSION citus` on every node and `citus_add_node(...)` for each worker:
--     psql -v ON_ERROR_STOP=1 -f docs/citus.sql "$DATABASE_URL"
-- The "postgres" sections are plain PostgreSQL: tests/integration/test_citus_preparation.py
-- applies them to a CHM database and shows that ingestion, the views and retention still work.

-- section: postgres
-- 1. Citus wants every primary key and unique constraint of a distributed table to contain
--    its distribution column. The idempotency key (pipeline_id, external_run_id) already
--    does; the primary key is `id` alone and becomes (pipeline_id, id). `id` still comes
--    from its identity sequence, so it stays unique, and Django keeps using it as the key.
ALTER TABLE runs_run DROP CONSTRAINT runs_run_pkey;
ALTER TABLE runs_run ADD CONSTRAINT runs_run_pkey PRIMARY KEY (pipeline_id, id);

-- 2. The foreign keys among the four tables go while the tables change kind (a local table
--    and a reference or distributed table cannot reference each other), and come back in 4.
ALTER TABLE runs_run DROP CONSTRAINT runs_run_pipeline_id_0b892d0f_fk_inventory_pipeline_id;
ALTER TABLE alerts_alertrule DROP CONSTRAINT alertrule_pipeline_same_client;
ALTER TABLE alerts_alertrule DROP CONSTRAINT alerts_alertrule_pipeline_id_e4aed381_fk_inventory_pipeline_id;
ALTER TABLE alerts_alertrule DROP CONSTRAINT alerts_alertrule_client_id_20acbec3_fk_inventory_client_id;
ALTER TABLE inventory_pipeline DROP CONSTRAINT inventory_pipeline_client_id_f66f0ab3_fk_inventory_client_id;
--    The alert state tables (operational records: open alerts, their history, notifications,
--    silences, maintenance windows) stay on the coordinator; their keys to the tables that
--    become reference tables go too, and come back in 5.
ALTER TABLE alerts_alertevent DROP CONSTRAINT alerts_alertevent_client_id_276a75e7_fk_inventory_client_id;
ALTER TABLE alerts_alertevent DROP CONSTRAINT alerts_alertevent_pipeline_id_7464fc12_fk_inventory_pipeline_id;
ALTER TABLE alerts_alertevent DROP CONSTRAINT alerts_alertevent_rule_id_74bf1083_fk_alerts_alertrule_id;
ALTER TABLE alerts_alertstate DROP CONSTRAINT alerts_alertstate_pipeline_id_f11ab606_fk_inventory_pipeline_id;
ALTER TABLE alerts_alertstate DROP CONSTRAINT alerts_alertstate_rule_id_a98bc289_fk_alerts_alertrule_id;
ALTER TABLE alerts_maintenancewindow DROP CONSTRAINT alerts_maintenancewi_client_id_86d14d0c_fk_inventory;
ALTER TABLE alerts_maintenancewindow DROP CONSTRAINT alerts_maintenancewi_pipeline_id_54508ea8_fk_inventory;
ALTER TABLE alerts_notification DROP CONSTRAINT alerts_notification_pipeline_id_091469bc_fk_inventory;
ALTER TABLE alerts_notification DROP CONSTRAINT alerts_notification_rule_id_14b6caaf_fk_alerts_alertrule_id;
ALTER TABLE alerts_silence DROP CONSTRAINT alerts_silence_pipeline_id_e9390bd2_fk_inventory_pipeline_id;
ALTER TABLE alerts_silence DROP CONSTRAINT alerts_silence_rule_id_03d7b42d_fk_alerts_alertrule_id;

-- section: citus
-- 3. Small, read everywhere, joined with runs by every view: a full copy on every node.
SELECT create_reference_table('inventory_client');
SELECT create_reference_table('inventory_pipeline');
SELECT create_reference_table('alerts_alertrule');
-- The runs are spread over the shards by pipeline: all runs of one pipeline live together.
SELECT create_distributed_table('runs_run', 'pipeline_id');

-- section: postgres
-- 4. The foreign keys again: between reference tables, and from the distributed runs to the
--    reference pipelines. If a Citus version refuses DEFERRABLE here, drop that clause:
--    CHM always stores a pipeline before its runs.
ALTER TABLE inventory_pipeline ADD CONSTRAINT inventory_pipeline_client_id_f66f0ab3_fk_inventory_client_id
    FOREIGN KEY (client_id) REFERENCES inventory_client (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertrule ADD CONSTRAINT alerts_alertrule_client_id_20acbec3_fk_inventory_client_id
    FOREIGN KEY (client_id) REFERENCES inventory_client (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertrule ADD CONSTRAINT alerts_alertrule_pipeline_id_e4aed381_fk_inventory_pipeline_id
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertrule ADD CONSTRAINT alertrule_pipeline_same_client
    FOREIGN KEY (pipeline_id, client_id) REFERENCES inventory_pipeline (id, client_id) ON DELETE CASCADE;
ALTER TABLE runs_run ADD CONSTRAINT runs_run_pipeline_id_0b892d0f_fk_inventory_pipeline_id
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline (id) DEFERRABLE INITIALLY DEFERRED;

-- section: postgres
-- 5. The alert state tables' keys again. On Citus, a key from a local table to a reference
--    table makes the local table a Citus local table (citus.enable_local_reference_table_foreign_keys,
--    on by default): it stays on the coordinator, where the evaluator and the pages use it.
ALTER TABLE alerts_alertevent ADD CONSTRAINT alerts_alertevent_client_id_276a75e7_fk_inventory_client_id
    FOREIGN KEY (client_id) REFERENCES inventory_client(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertevent ADD CONSTRAINT alerts_alertevent_pipeline_id_7464fc12_fk_inventory_pipeline_id
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertevent ADD CONSTRAINT alerts_alertevent_rule_id_74bf1083_fk_alerts_alertrule_id
    FOREIGN KEY (rule_id) REFERENCES alerts_alertrule(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertstate ADD CONSTRAINT alerts_alertstate_pipeline_id_f11ab606_fk_inventory_pipeline_id
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_alertstate ADD CONSTRAINT alerts_alertstate_rule_id_a98bc289_fk_alerts_alertrule_id
    FOREIGN KEY (rule_id) REFERENCES alerts_alertrule(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_maintenancewindow ADD CONSTRAINT alerts_maintenancewi_client_id_86d14d0c_fk_inventory
    FOREIGN KEY (client_id) REFERENCES inventory_client(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_maintenancewindow ADD CONSTRAINT alerts_maintenancewi_pipeline_id_54508ea8_fk_inventory
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_notification ADD CONSTRAINT alerts_notification_pipeline_id_091469bc_fk_inventory
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_notification ADD CONSTRAINT alerts_notification_rule_id_14b6caaf_fk_alerts_alertrule_id
    FOREIGN KEY (rule_id) REFERENCES alerts_alertrule(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_silence ADD CONSTRAINT alerts_silence_pipeline_id_e9390bd2_fk_inventory_pipeline_id
    FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts_silence ADD CONSTRAINT alerts_silence_rule_id_03d7b42d_fk_alerts_alertrule_id
    FOREIGN KEY (rule_id) REFERENCES alerts_alertrule(id) DEFERRABLE INITIALLY DEFERRED;
