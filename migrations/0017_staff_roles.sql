-- Staff accounts carry a role (analyst, lead, admin); customers none.
ALTER TABLE accounts ADD COLUMN role TEXT CHECK (role IN ('analyst', 'lead', 'admin'));
ALTER TABLE accounts ADD CONSTRAINT accounts_role_of_staff
    CHECK ((realm = 'staff') = (role IS NOT NULL));
