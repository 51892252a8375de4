-- A read-only PostgreSQL role for the leaderboard: it can read every SkipBench table, now and
-- after later migrations, and write none. Run as the owner of the tables (the user that runs
-- `skipbench db upgrade`), with psql variables:
--
--   psql -v ro_user=skipbench_leaderboard -v ro_password=SECRET -v owner=skipbench \
--        -v db=skipbench -f leaderboard_role.sql
--
-- docker compose runs it once, when the PostgreSQL volume is first created (initdb.sh).
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'ro_user', :'ro_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'ro_user') \gexec
ALTER ROLE :"ro_user" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"db" TO :"ro_user";
GRANT USAGE ON SCHEMA public TO :"ro_user";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"ro_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"ro_user";
