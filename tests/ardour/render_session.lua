-- One headless Ardour session, run twice by ardour_host.render_session with a table P written before this
-- text, each time in a new process (see ardour_host's docstring):
-- P.step "create": a session at P.sample_rate / P.block on the Dummy backend with an audio track for the
--   guitar through the effect and a MIDI track for the melody through the Synth, both into the master bus.
--   (ardour_host then adds the clips to the session's XML: Ardour 7.3's Lua cannot import files headless.)
-- P.step "render": load it; report the block size and the latencies Ardour reads; bounce each track over
--   the session range; export the master bus over the same range.
-- Results go to stdout as "TONEMORPH key value" lines.

local function say (key, value) print ("TONEMORPH " .. key .. " " .. tostring (value)) end
local function check (ok, message) if not ok then say ("error", message); error (message) end end

local function setup_engine ()
	check (AudioEngine:set_backend ("None (Dummy)", "", ""), "no Dummy backend")
	check (AudioEngine:set_sample_rate (P.sample_rate) == 0, "the Dummy backend refused the sample rate")
	check (AudioEngine:set_buffer_size (P.block) == 0, "the Dummy backend refused the buffer size")
end

local function add_tracks ()
	local ptype = ARDOUR.PluginType[P.plugin_type]
	local synth_info = ARDOUR.LuaAPI.new_plugin_info (P.synth, ptype)
	check (not synth_info:isnil (), P.plugin_type .. " plugin '" .. P.synth .. "' not found")
	local effect = ARDOUR.LuaAPI.new_plugin (Session, P.effect, ptype, "")
	check (not effect:isnil (), P.plugin_type .. " plugin '" .. P.effect .. "' not found")

	local audio = Session:new_audio_track (2, 2, nil, 1, P.effect_track, ARDOUR.PresentationInfo.max_order,
	                                       ARDOUR.TrackMode.Normal, false):front ()
	check (audio:add_processor_by_index (effect, 0, nil, true) == 0, "could not add the effect")
	local midi = Session:new_midi_track (ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1),
	                                     ARDOUR.ChanCount (ARDOUR.DataType ("audio"), 2), true, synth_info, nil,
	                                     nil, 1, P.synth_track, ARDOUR.PresentationInfo.max_order,
	                                     ARDOUR.TrackMode.Normal, false):front ()
	-- New tracks are not connected to the master bus headless; nothing may reach them but their clips.
	local master = Session:master_out ():input ()
	for _, track in ipairs ({ audio, midi }) do
		track:input ():disconnect_all (nil)
		track:output ():disconnect_all (nil)
		for c = 0, 1 do
			check (track:output ():audio (c):connect (master:audio (c):name ()) == 0, "could not connect to master")
		end
	end
end

local function report_latency (when)
	for _, name in ipairs ({ P.effect_track, P.synth_track }) do
		local route = Session:route_by_name (name)
		say (when .. " plugin_latency " .. name, route:nth_plugin (0):signal_latency ())
		say (when .. " route_latency " .. name, route:signal_latency ())
	end
	say (when .. " worst_latency_preroll", Session:worst_latency_preroll ())
end

local function bounce (name)
	local track = Session:route_by_name (name):to_track ()
	local region = track:bounce_range (0, P.length, ARDOUR.InterThreadInfo (), track:main_outs (), false,
	                                   "bounce-" .. name)
	check (not region:isnil (), "bounce of " .. name .. " failed")
	for c = 0, 1 do
		say ("bounce " .. name .. " " .. c, region:source (c):to_filesource ():path ())
	end
end

local function export ()
	local e = Session:simple_export ()
	check (e:set_preset (P.export_preset), "export preset " .. P.export_preset .. " not found")
	e:set_folder (P.export_dir)
	e:set_name (P.export_name)
	e:set_range (0, P.length)
	check (e:run_export (), "export failed")
	say ("export", P.export_dir .. "/" .. P.export_name .. ".wav")
end

local function timed (what, f)
	local t0 = ARDOUR.LuaAPI.monotonic_time ()
	f ()
	say ("seconds " .. what, (ARDOUR.LuaAPI.monotonic_time () - t0) / 1e6)
end

setup_engine ()
if P.step == "create" then
	timed ("create", function ()
		create_session (P.dir, P.name, P.sample_rate)
		add_tracks ()
		Session:save_state ("", false, false, false, false, false)
	end)
else
	timed ("load", function ()
		check (load_session (P.dir, P.name), "could not load the session")
		-- Let the plugins run a few cycles, so that the latency they report from prepare reaches Ardour.
		ARDOUR.LuaAPI.wait_for_process_callback (20, 2)
	end)
	say ("block", Session:get_block_size ())
	say ("sample_rate", Session:nominal_sample_rate ())
	report_latency ("loaded")
	for _, name in ipairs ({ P.effect_track, P.synth_track }) do
		timed ("bounce " .. name, function () bounce (name) end)
	end
	timed ("export", export)
	report_latency ("exported")
end
collectgarbage () -- drop the script's references to regions before the session goes
close_session ()
say ("done", 1)
