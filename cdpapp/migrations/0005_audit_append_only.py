from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION cdpapp_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cdpapp_audit_append_only BEFORE UPDATE OR DELETE ON cdpapp_auditentry
  FOR EACH ROW EXECUTE FUNCTION cdpapp_audit_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS cdpapp_audit_append_only ON cdpapp_auditentry;
DROP FUNCTION IF EXISTS cdpapp_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("cdpapp", "0004_auditentry")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
