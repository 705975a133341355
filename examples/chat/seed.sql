-- A few dozen messages in three groups for the chat example, and the groups' members (loaded
-- after schema.sql).
-- Fixed ids and timestamps keep the data the same on every machine, and ON CONFLICT makes a
-- second load a no-op. Some texts carry quotes, a newline and non-ASCII on purpose: they must
-- survive the trip to JSON intact.

INSERT INTO messages (group_name, sender_name, message_text, message_timestamp, message_id) VALUES
    ('platform-team', 'Priya',  'Morning! Deploy of the billing service is scheduled for 10:30.', '2024-05-14 08:02:11+00', 'd6d85d01-fc1d-45a6-9690-0fa89ee6032f'),
    ('platform-team', 'Marcus', 'I''ll keep an eye on the error rate dashboards.', '2024-05-14 08:03:47+00', '0bac8cca-379e-45e9-888b-de40919724f7'),
    ('platform-team', 'Jonas',  'Heads up: the staging database is at 91% disk.', '2024-05-14 08:15:02+00', 'd5a7a512-416a-4df8-964b-f0ad5676db4b'),
    ('platform-team', 'Priya',  'Thanks, Jonas. Can you drop the old audit partitions from March?', '2024-05-14 08:16:30+00', '5287410d-3935-4181-847e-fbe26c834db2'),
    ('platform-team', 'Jonas',  'Done, back down to 64%.', '2024-05-14 08:41:19+00', '8bd5017e-1d7c-4503-beaa-1fdfe9aaa675'),
    ('platform-team', 'Aiko',   'Reviewing the migration PR now. One question on the "NOT VALID" constraint.', '2024-05-14 09:05:55+00', '7fc0ca49-19ea-403c-aab9-4ac11fdf4bb6'),
    ('platform-team', 'Marcus', E'Checklist before 10:30:\n1. freeze merges\n2. snapshot the config\n3. ping support', '2024-05-14 09:58:03+00', 'a22b873a-e619-4d74-bec4-b821ac39ba7e'),
    ('platform-team', 'Priya',  'Deploy started.', '2024-05-14 10:30:00+00', 'eb861a14-21c9-4bdd-8426-bdfc0942ecb5'),
    ('platform-team', 'Priya',  'Deploy finished, all health checks green ✅', '2024-05-14 10:44:12+00', 'beaa562d-cd38-42a0-97f2-64234fa07148'),
    ('platform-team', 'Aiko',   'p99 latency unchanged at 180 ms. Nice work, everyone.', '2024-05-14 11:02:40+00', '0850dc85-e817-4376-82a7-25299329b818'),
    ('platform-team', 'Jonas',  'Writing up the retro notes this afternoon.', '2024-05-14 13:20:05+00', '98444fa3-1720-40a7-a891-3a0aa04d49e3'),
    ('platform-team', 'Marcus', 'Lunch tomorrow at the Vietnamese place?', '2024-05-14 16:48:51+00', 'f61b03e0-16f1-47b2-a7d9-990626e41c9d'),

    ('book-club', 'Elena',   'Next month''s pick: "The Left Hand of Darkness". Objections?', '2024-05-13 19:01:22+00', '9998f9f1-bb00-4249-95b2-e85537379594'),
    ('book-club', 'Tom',     'None from me, I''ve wanted to read it for years.', '2024-05-13 19:04:10+00', '4834ca61-d736-4c71-a9bd-7b8e48ee761d'),
    ('book-club', 'Sofía',   '¡Me encanta! Le Guin is always a good choice.', '2024-05-13 19:07:45+00', 'bd7dd374-bb4a-4877-b014-8d41b233bc47'),
    ('book-club', 'Dev',     'Is there a good ebook edition? The library copy is checked out.', '2024-05-13 19:12:31+00', 'e2efa126-acfd-494f-b633-55cf190b2021'),
    ('book-club', 'Elena',   'The 50th anniversary edition has a new afterword, worth it.', '2024-05-13 19:15:03+00', '6f0b9203-3385-4fc9-ad5f-2af6f7a239f7'),
    ('book-club', 'Tom',     'Same café as last time? Thursday the 13th, 7 pm.', '2024-05-13 20:22:48+00', 'f6698d39-57ad-43a7-ae66-76f12011e64f'),
    ('book-club', 'Sofía',   'Works for me.', '2024-05-13 20:25:16+00', 'd6237447-61a3-4867-9f22-7f9fae97074d'),
    ('book-club', 'Dev',     'I can only make it by 7:30, start without me.', '2024-05-13 20:31:59+00', 'd1d2a124-81bf-4e8a-85f0-e51d3d34f4e4'),
    ('book-club', 'Elena',   'Reminder: chapters 1 to 7 for the first session.', '2024-05-15 08:10:37+00', '966c7461-c4a7-4920-a118-a6a3e6703090'),
    ('book-club', 'Tom',     'Finished chapter 3. Genly Ai is so out of his depth 😅', '2024-05-16 21:44:02+00', '86bbd8f1-d039-42ba-9971-90d1a46b1cbf'),
    ('book-club', 'Sofía',   'No spoilers past chapter 7, please!', '2024-05-16 21:46:29+00', 'bcf7151f-08ff-4f84-8fcd-493cb1a40298'),
    ('book-club', 'Dev',     'Ordered the paperback, arriving Tuesday.', '2024-05-17 09:03:14+00', '9ca11950-5439-4a2c-af95-a5c61510ca44'),

    ('weekend-hike', 'Lukas',  'Saturday forecast: 18 °C and sunny. Still on for the ridge trail?', '2024-05-15 17:30:08+00', '51f46d3e-3571-42c4-9302-df007ae7638a'),
    ('weekend-hike', 'Maya',   'Yes! Meet at the trailhead car park at 8?', '2024-05-15 17:33:41+00', 'a8aa94f1-ec09-4af0-9729-c07b8379017e'),
    ('weekend-hike', 'Chen',   'I can drive, three free seats.', '2024-05-15 17:40:19+00', 'f514a000-4633-4132-b09f-bb36a35b19d2'),
    ('weekend-hike', 'Lukas',  'Chen, could you pick me up on the way? I''m near the station.', '2024-05-15 17:42:55+00', '4fabde00-f265-4332-bf74-06431d184169'),
    ('weekend-hike', 'Chen',   'Sure, 7:40 at the station.', '2024-05-15 17:44:06+00', 'fd02aec0-58bf-4fd3-9388-028db752c696'),
    ('weekend-hike', 'Ngozi',  'Count me in. It''s 14 km with 900 m of climbing, right?', '2024-05-15 18:05:37+00', '5428fd06-af33-4eee-bf32-9a501f36933f'),
    ('weekend-hike', 'Maya',   'Right. Bring at least 2 litres of water, the spring at the hut is dry.', '2024-05-15 18:09:12+00', '3734e142-19d1-4a50-bc97-a3ddf77e5efc'),
    ('weekend-hike', 'Lukas',  'I''ll bring the first-aid kit and a map as backup.', '2024-05-16 07:55:48+00', '3d981cab-25e1-438a-8ba7-bc438a86d953'),
    ('weekend-hike', 'Ngozi',  'Anyone have spare trekking poles? Mine broke last trip.', '2024-05-16 12:14:26+00', '6f472ff5-3024-4cad-9f51-14ed3595d031'),
    ('weekend-hike', 'Chen',   'I have an extra pair, will put them in the car.', '2024-05-16 12:20:03+00', '0debc544-87ef-4507-9d59-8182800957cb'),
    ('weekend-hike', 'Maya',   'Made it to the summit 🏔️ photos tonight.', '2024-05-18 11:37:50+00', 'fce5ffa6-1ab0-4fed-b7fe-bff1dc14f899'),
    ('weekend-hike', 'Ngozi',  'Great day. Same time next month?', '2024-05-18 18:02:33+00', '047de5ea-52c1-46c2-a831-dd6b2e334a07')
ON CONFLICT (message_id) DO NOTHING;

-- The groups' members: everyone who wrote in a group belongs to it, and Priya to book-club too,
-- so that she has two groups to switch between and one (weekend-hike) she may not read.
INSERT INTO group_members (user_name, group_name) VALUES
    ('Priya', 'platform-team'), ('Marcus', 'platform-team'), ('Jonas', 'platform-team'), ('Aiko', 'platform-team'),
    ('Elena', 'book-club'), ('Tom', 'book-club'), ('Sofía', 'book-club'), ('Dev', 'book-club'), ('Priya', 'book-club'),
    ('Lukas', 'weekend-hike'), ('Maya', 'weekend-hike'), ('Chen', 'weekend-hike'), ('Ngozi', 'weekend-hike')
ON CONFLICT DO NOTHING;
