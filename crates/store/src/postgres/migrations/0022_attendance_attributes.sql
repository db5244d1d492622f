-- Attendance events say their time zone (IANA name), so that weekday and time slot are local;
-- registrations carry typed attributes of the person and the registration (a JSON object of
-- booleans, numbers and texts), which the attendance model reads.
ALTER TABLE attendance_events ADD COLUMN timezone TEXT;
ALTER TABLE attendance_registrations ADD COLUMN attributes TEXT;
