-- dxhub index, schema version 6: a series re-sent under another study (its only instance
-- corrected) moves with its instances, and both studies' series and instance counts follow
-- (PostgreSQL; the trigger of sqlite/006_series_move.sql as a plpgsql function of its name).
CREATE FUNCTION series_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE studies SET num_series = num_series - 1, num_instances = num_instances - OLD.num_instances
    WHERE id = OLD.study_pk;
  UPDATE studies SET num_series = num_series + 1, num_instances = num_instances + NEW.num_instances
    WHERE id = NEW.study_pk;
  RETURN NULL;
END;
$$;
CREATE TRIGGER series_move AFTER UPDATE OF study_pk ON series
  FOR EACH ROW WHEN (OLD.study_pk <> NEW.study_pk) EXECUTE FUNCTION series_move();
