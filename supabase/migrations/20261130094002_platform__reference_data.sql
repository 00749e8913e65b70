-- Reference data every deployment needs from the platform: the permission catalogue, the
-- system roles and what they grant, the currencies amounts may be quoted in, and the
-- languages with a starter set of UI strings (i18n, 90_i18n.sql). Later domains add their own
-- permissions in their reference-data migrations. The languages come here, before identity's
-- and notifications' migrations, because profiles' and e-mail templates' locales must be
-- known languages.

insert into public.permissions (code, description) values
  ('users.read', 'See any user''s account, profile and roles'),
  ('users.manage', 'Deactivate, reactivate, ban and edit users'),
  ('users.impersonate', 'Sign in as another user through a one-time link, with a reason, audited and told to the user'),
  ('roles.manage', 'Create roles, grant permissions, assign roles'),
  ('sellers.review', 'Approve or reject seller applications'),
  ('invites.manage', 'Create and revoke invite codes'),
  ('audit.read', 'Read the audit log and the access report'),
  ('content.moderate', 'Hide or remove user content'),
  ('settings.manage', 'Change platform settings'),
  ('shop.sell', 'List products and run a shop'),
  ('i18n.manage', 'Add and activate languages, write UI strings and read the translation coverage');

insert into public.roles (name, description, is_system) values
  ('admin', 'Everything, including granting roles', true),
  ('staff', 'Customer support: read users, moderate content', true),
  ('moderator', 'Moderate content', true),
  ('seller', 'An approved seller with a shop', true);

insert into public.role_permissions (role_id, permission)
select r.id, p.code from public.roles r cross join public.permissions p where r.name = 'admin'
union all
select r.id, p from public.roles r, unnest(array['users.read', 'content.moderate', 'audit.read']) p where r.name = 'staff'
union all
select r.id, 'content.moderate' from public.roles r where r.name = 'moderator'
union all
select r.id, 'shop.sell' from public.roles r where r.name = 'seller';

insert into public.currencies (code, minor_units, max_amount, name) values
  ('USD', 2, 99999999, 'US dollar'),
  ('EUR', 2, 99999999, 'Euro'),
  ('GBP', 2, 99999999, 'Pound sterling'),
  ('CAD', 2, 99999999, 'Canadian dollar'),
  ('AUD', 2, 99999999, 'Australian dollar'),
  ('NZD', 2, 99999999, 'New Zealand dollar'),
  ('CHF', 2, 99999999, 'Swiss franc'),
  ('SEK', 2, 99999999, 'Swedish krona'),
  ('NOK', 2, 99999999, 'Norwegian krone'),
  ('DKK', 2, 99999999, 'Danish krone'),
  ('PLN', 2, 99999999, 'Polish zloty'),
  ('SGD', 2, 99999999, 'Singapore dollar'),
  ('HKD', 2, 99999999, 'Hong Kong dollar'),
  ('INR', 2, 99999999, 'Indian rupee'),
  ('MXN', 2, 99999999, 'Mexican peso'),
  ('BRL', 2, 99999999, 'Brazilian real'),
  ('JPY', 0, 99999999, 'Japanese yen'),
  ('KRW', 0, 99999999, 'South Korean won');

-- Personal data the platform holds (private.personal_data: what export and deletion do).
insert into private.personal_data (relation, user_column, on_delete, exported, omit_from_export, reason) values
  ('public.user_roles', 'user_id', 'delete', true, '{assigned_by}', 'the user''s roles go with them'),
  ('public.user_roles', 'assigned_by', 'anonymise', false, '{}', 'roles they assigned to others stay, without them'),
  ('public.audit_log', 'actor_id', 'keep', false, '{}',
   'append-only record of who changed what: kept as the platform''s legal record (GDPR art. 17(3)(b)); holds others'' data'),
  ('private.domain_events', 'actor_id', 'keep', false, '{}', 'the notifications outbox: consumed and pruned by notifications'),
  ('private.domain_events', 'recipients', 'keep', false, '{}', 'the notifications outbox: consumed and pruned by notifications'),
  ('public.translation_strings', 'updated_by', 'anonymise', false, '{}',
   'UI strings a translator wrote stay, without them');

-- Languages (BCP 47 codes as locales are written). en is the default, the fallback of every
-- string; en and ko are offered to clients. The inactive ones are known locales (profiles,
-- e-mail templates, broadcast filters name them) that have no UI strings offered yet.
insert into public.languages (code, name, native_name, active, is_default) values
  ('en', 'English', 'English', true, true),
  ('ko', 'Korean', '한국어', true, false),
  ('ja', 'Japanese', '日本語', false, false),
  ('zh', 'Chinese', '中文', false, false),
  ('fr', 'French', 'Français', false, false),
  ('de', 'German', 'Deutsch', false, false),
  ('es', 'Spanish', 'Español', false, false),
  ('nl', 'Dutch', 'Nederlands', false, false),
  ('pt-BR', 'Portuguese (Brazil)', 'Português (Brasil)', false, false);

-- A starter set of UI strings: the sources in English first (the trigger digests them for the
-- translations), then Korean. Placeholders are {name} (ICU/i18next style); the Korean keeps
-- each placeholder of its source. orders.status.disputed is left untranslated, so the coverage
-- report shows a missing key from the start.
insert into public.translation_strings (module, key, language, value) values
  ('common', 'save', 'en', 'Save'),
  ('common', 'cancel', 'en', 'Cancel'),
  ('common', 'delete', 'en', 'Delete'),
  ('common', 'search', 'en', 'Search'),
  ('common', 'loading', 'en', 'Loading…'),
  ('common', 'errors.not_found', 'en', 'We couldn''t find that page.'),
  ('common', 'errors.rate_limited', 'en', 'Too many requests. Try again in {seconds} seconds.'),
  ('auth', 'sign_in', 'en', 'Sign in'),
  ('auth', 'sign_up', 'en', 'Create an account'),
  ('auth', 'sign_out', 'en', 'Sign out'),
  ('auth', 'welcome', 'en', 'Welcome back, {name}!'),
  ('marketplace', 'projects.new', 'en', 'Post a project'),
  ('marketplace', 'bids.count', 'en', '{count} bids'),
  ('marketplace', 'bids.accepted', 'en', 'Your bid on {project} was accepted'),
  ('orders', 'status.paid', 'en', 'Paid'),
  ('orders', 'status.shipped', 'en', 'Shipped'),
  ('orders', 'status.delivered', 'en', 'Delivered'),
  ('orders', 'status.disputed', 'en', 'In dispute'),
  ('shop', 'cart.add', 'en', 'Add to cart'),
  ('shop', 'checkout', 'en', 'Checkout'),
  ('shop', 'stock.left', 'en', 'Only {count} left');

insert into public.translation_strings (module, key, language, value) values
  ('common', 'save', 'ko', '저장'),
  ('common', 'cancel', 'ko', '취소'),
  ('common', 'delete', 'ko', '삭제'),
  ('common', 'search', 'ko', '검색'),
  ('common', 'loading', 'ko', '불러오는 중…'),
  ('common', 'errors.not_found', 'ko', '페이지를 찾을 수 없습니다.'),
  ('common', 'errors.rate_limited', 'ko', '요청이 너무 많습니다. {seconds}초 후에 다시 시도하세요.'),
  ('auth', 'sign_in', 'ko', '로그인'),
  ('auth', 'sign_up', 'ko', '회원가입'),
  ('auth', 'sign_out', 'ko', '로그아웃'),
  ('auth', 'welcome', 'ko', '{name}님, 다시 오신 것을 환영합니다!'),
  ('marketplace', 'projects.new', 'ko', '프로젝트 등록'),
  ('marketplace', 'bids.count', 'ko', '입찰 {count}건'),
  ('marketplace', 'bids.accepted', 'ko', '{project}에 대한 입찰이 수락되었습니다'),
  ('orders', 'status.paid', 'ko', '결제 완료'),
  ('orders', 'status.shipped', 'ko', '배송 중'),
  ('orders', 'status.delivered', 'ko', '배송 완료'),
  ('shop', 'cart.add', 'ko', '장바구니에 담기'),
  ('shop', 'checkout', 'ko', '결제하기'),
  ('shop', 'stock.left', 'ko', '{count}개 남음');
